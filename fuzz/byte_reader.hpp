// Decodes fuzzer bytes into choices. Reading past the end yields zeros, so every input is a
// complete (if short) program and the fuzzer never has to guess a length.
#pragma once

#include <cstddef>
#include <cstdint>

namespace s2pt::fuzz {

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16() | (std::uint32_t{u16()} << 16)); }
  std::uint64_t u64() { return u32() | (std::uint64_t{u32()} << 32); }
  // A value in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) {
    return (n <= 256 ? u8() : n <= 65536 ? u16() : u64()) % n;
  }
  bool flag() { return (u8() & 1) != 0; }
  template <class T, std::size_t N>
  const T& pick(const T (&options)[N]) {
    return options[below(N)];
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace s2pt::fuzz
