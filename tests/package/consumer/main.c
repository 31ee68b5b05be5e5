/* Uses the installed C header and library from C11. */
#include <stdio.h>
#include <string.h>

#include "s2pt/s2pt.h"

int main(void) {
  s2pt_table table;
  const s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40};
  if (s2pt_table_storage_size() > sizeof table) return 1;
  /* No callbacks given: refused, nothing touched. */
  if (s2pt_table_create(&table, &config, NULL, NULL) != S2PT_ERR_INVALID_ARGUMENT) return 1;
  if (strstr(s2pt_status_string(S2PT_ERR_NO_MEMORY), "out of table pages") == NULL) return 1;
  printf("consumer (C): ok\n");
  return 0;
}
