# `cmake --install`: headers, the static libraries, the s2pt tool, a CMake package
# (find_package(s2pt) -> s2pt::s2pt, s2pt::hosted, s2pt::arch_counting) and s2pt.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(s2pt_hosted PROPERTIES EXPORT_NAME hosted)
set_target_properties(s2pt_arch_counting PROPERTIES EXPORT_NAME arch_counting)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/s2pt
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/hosted/include/s2pt
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/arch/counting/include/s2pt
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")

install(TARGETS s2pt s2pt_hosted s2pt_arch_counting EXPORT s2ptTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS s2pt_tool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(S2PT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/s2pt)
install(EXPORT s2ptTargets NAMESPACE s2pt:: DESTINATION ${S2PT_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/s2ptConfig.cmake.in
  ${PROJECT_BINARY_DIR}/s2ptConfig.cmake INSTALL_DESTINATION ${S2PT_CMAKE_DIR})
# 0.x: a minor version may break the interface.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/s2ptConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/s2ptConfig.cmake ${PROJECT_BINARY_DIR}/s2ptConfigVersion.cmake
        DESTINATION ${S2PT_CMAKE_DIR})

# pkg-config: the prefix is substituted at install time, so a staged `--prefix` install is right.
install(CODE "
  set(CMAKE_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${CMAKE_CURRENT_LIST_DIR}/s2pt.pc.in\"
                 \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/s2pt.pc\" @ONLY)
  message(STATUS \"Installing: \${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/s2pt.pc\")
")
