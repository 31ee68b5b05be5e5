# Cross toolchain for the EL2 image: Debian's aarch64-linux-gnu GCC, used freestanding.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(S2PT_CROSS_PREFIX "aarch64-linux-gnu-" CACHE STRING "Prefix of the aarch64 cross tools")
set(CMAKE_C_COMPILER ${S2PT_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${S2PT_CROSS_PREFIX}g++)
set(CMAKE_ASM_COMPILER ${S2PT_CROSS_PREFIX}gcc)
# No C library to link test programs against.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
