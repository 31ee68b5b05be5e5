// What one TLBI instruction removes, decoded from its operand exactly as the architecture
// defines it (through the core's own decoders): a wrong encoding or hint decodes to what the
// hardware would really invalidate.
#pragma once

#include "s2pt/geometry.hpp"
#include "s2pt/sim/tlb.hpp"
#include "s2pt/tlbi.hpp"

namespace s2pt::sim {

struct TlbiScope {
  enum class Kind : u8 { by_ipa, range, stage1_all, vmid_all };

  TlbiOp op = TlbiOp::vmalls12e1is;
  u64 operand = 0;
  Vmid vmid{};
  Kind kind = Kind::vmid_all;
  Ipa start{};    // by_ipa: the named 4K-aligned IPA; range: the first byte
  u64 bytes = 0;  // range: bytes covered; by_ipa: 1 (the entry containing `start`)
  LevelHint hint = LevelHint::none();
  bool leaf_only = false;
  // A range op whose TG, or a by-IPA op whose TTL, names another granule than the table's: an
  // incorrect operand, which the model lets invalidate nothing (the architecture requires none).
  bool granule_mismatch = false;
  // Non-shareable (IPAS2E1, VMALLE1): reaches the issuing CPU only, and never completes a
  // break-before-make (the other CPUs may still hold the old entry).
  bool local = false;

  // `ds`: the table's VTCR_EL2.DS (LPA2), which decides the unit of a range's BaseADDR.
  static TlbiScope decode(Vmid vmid, TlbiOp op, u64 operand, Granule granule, bool ds = false);

  bool removes(const TlbEntry& e) const;
  bool removes(const WalkEntry& e) const;
  // Whether it completes the "break" of a live entry that was made invalid: the old leaf's TLB
  // entries (`was_table` false) or the old table's walk-cache entries are covered.
  bool covers(Vmid vmid, Ipa base, u64 size, Level level, bool was_table) const;

 private:
  bool hits(Ipa base, u64 size) const;
};

}  // namespace s2pt::sim
