# Included by the top-level CMakeLists.txt with DPDC_FUZZ=ON, before any
# library is defined: the libraries the fuzz targets link are built with the
# same instrumentation (coverage for libFuzzer, ASan, UBSan), else a defect
# inside them would go unseen. Only C++ is instrumented: the guest images are
# freestanding C built by custom commands, which these options do not reach.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "DPDC_FUZZ needs clang (libFuzzer): configure with CC=clang CXX=clang++")
endif()
set(DPDC_SANITIZE -fsanitize=address,undefined -fno-sanitize-recover=undefined)
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link;${DPDC_SANITIZE};-fno-omit-frame-pointer>")
add_link_options(${DPDC_SANITIZE})
