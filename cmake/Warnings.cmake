# sc_warnings: the shared warnings target every library and binary links.
# -Wnull-dereference is left out: at -O2 it reports false positives inside nlohmann/json.
add_library(sc_warnings INTERFACE)
target_compile_options(sc_warnings INTERFACE
  -Wall -Wextra -Werror -Wpedantic
  -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Wmisleading-indentation
  -Wno-missing-field-initializers)  # designated initializers leave the rest defaulted on purpose
# GCC only (clang builds the fuzzers, tests/fuzz/).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(sc_warnings INTERFACE -Wduplicated-cond -Wduplicated-branches -Wlogical-op)
else()
  # clang's -Wpedantic counts the embedded API models (cmake/Embed.cmake) as overlong literals.
  target_compile_options(sc_warnings INTERFACE -Wno-overlength-strings)
endif()
