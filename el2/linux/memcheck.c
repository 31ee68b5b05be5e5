/* The guest's memory checker: fills a buffer with a pattern derived from each word's address and
 * a generation number, then in every pass verifies each word against the previous generation and
 * rewrites it with the next one. A word that does not hold what was last written there is a
 * mismatch: its address, expected and found values are printed. Exit 0 when all passes were
 * clean, 1 on any mismatch, 2 on bad arguments or no memory.
 *   memcheck <MiB> <passes> <tag>
 * Built by el2/linux/prepare-guest.sh with aarch64-linux-gnu-gcc -static. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static uint64_t pattern(const uint64_t* word, uint64_t generation) {
  /* Different for every word and every generation, and never a small constant, so neither a
   * stale page nor a page of another generation or address can pass for the right one. */
  uint64_t x = (uint64_t)(uintptr_t)word * 0x9E3779B97F4A7C15ull;
  x ^= (generation + 1) * 0xC2B2AE3D27D4EB4Full;
  return x ^ (x >> 29);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: memcheck <MiB> <passes> <tag>\n");
    return 2;
  }
  const size_t bytes = (size_t)strtoul(argv[1], NULL, 10) << 20;
  const unsigned passes = (unsigned)strtoul(argv[2], NULL, 10);
  const char* tag = argv[3];
  const size_t words = bytes / sizeof(uint64_t);
  uint64_t* buffer = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buffer == MAP_FAILED || words == 0 || passes == 0) {
    fprintf(stderr, "memcheck %s: cannot map %zu bytes\n", tag, bytes);
    return 2;
  }
  for (size_t i = 0; i < words; ++i)
    buffer[i] = pattern(&buffer[i], 0);

  unsigned long mismatches = 0;
  for (unsigned g = 1; g <= passes; ++g) {
    for (size_t i = 0; i < words; ++i) {
      const uint64_t expected = pattern(&buffer[i], g - 1);
      const uint64_t found = buffer[i];
      if (found != expected) {
        if (++mismatches <= 16) {
          printf("memcheck %s: MISMATCH pass %u at %p: expected %016llx found %016llx\n", tag, g,
                 (void*)&buffer[i], (unsigned long long)expected, (unsigned long long)found);
        }
      }
      buffer[i] = pattern(&buffer[i], g);
    }
  }
  for (size_t i = 0; i < words; ++i) {
    if (buffer[i] != pattern(&buffer[i], passes) && ++mismatches <= 16)
      printf("memcheck %s: MISMATCH final at %p\n", tag, (void*)&buffer[i]);
  }
  if (mismatches != 0) {
    printf("memcheck %s: FAILED: %lu mismatched words\n", tag, mismatches);
    return 1;
  }
  printf("memcheck %s: OK: %zu MiB, %u passes, no mismatch\n", tag, bytes >> 20, passes);
  return 0;
}
