/* What the C blocks of docs/api.md and docs/embedding.md take from the hypervisor around them:
 * declared here so that each block compiles on its own against s2pt.h. */
#ifndef S2PT_DOC_PRELUDE_H
#define S2PT_DOC_PRELUDE_H

#include "s2pt/s2pt.h"

extern const s2pt_mm_ops my_mm_ops;
extern const s2pt_arch_ops my_arch_ops;
void write_vtcr_el2(uint64_t value);
void write_vttbr_el2(uint64_t value);

typedef struct rwlock {
  unsigned word;
} rwlock_t;
void read_lock(rwlock_t* lock);
void read_unlock(rwlock_t* lock);
void write_lock(rwlock_t* lock);
void write_unlock(rwlock_t* lock);
void cond_resched(void);

#endif /* S2PT_DOC_PRELUDE_H */
