// TableLock: readers on their CPUs exclude the writer and never each other. The protected value is
// a plain variable, so ThreadSanitizer reports any access the lock failed to order.
#include "s2pt/table_lock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace s2pt {
namespace {

TEST(TableLock, WriterExcludesReadersAndReadersShare) {
  TableLock lock;
  std::atomic<int> readers_inside{0};
  std::atomic<int> max_readers_inside{0};
  std::atomic<bool> writer_inside{false};
  std::atomic<int> violations{0};
  u64 value = 0;  // written by the writer, read by the readers: only the lock orders them
  constexpr int kRounds = 20000;
  constexpr unsigned kReaders = 3;

  std::vector<std::thread> readers;
  for (unsigned cpu = 0; cpu < kReaders; ++cpu) {
    readers.emplace_back([&, cpu] {
      u64 seen = 0;
      for (int i = 0; i < kRounds; ++i) {
        SharedTableLock hold(lock, cpu);
        const int inside = ++readers_inside;
        int expected = max_readers_inside.load();
        while (inside > expected && !max_readers_inside.compare_exchange_weak(expected, inside)) {
        }
        if (writer_inside) ++violations;
        if (value < seen) ++violations;  // the writer only counts up
        seen = value;
        --readers_inside;
      }
    });
  }
  std::thread writer([&] {
    for (int i = 0; i < kRounds / 10; ++i) {
      ExclusiveTableLock hold(lock);
      writer_inside = true;
      if (readers_inside != 0) ++violations;
      ++value;
      writer_inside = false;
    }
  });
  for (std::thread& t : readers)
    t.join();
  writer.join();
  EXPECT_EQ(violations, 0);
  EXPECT_EQ(value, static_cast<u64>(kRounds / 10));
}

}  // namespace
}  // namespace s2pt
