# sc_warnings: the shared warnings target every library and binary links.
# -Wnull-dereference is left out: at -O2 it reports false positives inside nlohmann/json.
add_library(sc_warnings INTERFACE)
target_compile_options(sc_warnings INTERFACE
  -Wall -Wextra -Werror -Wpedantic
  -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Wmisleading-indentation
  -Wduplicated-cond -Wduplicated-branches -Wlogical-op
  -Wno-missing-field-initializers)  # designated initializers leave the rest defaulted on purpose
