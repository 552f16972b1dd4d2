# sc_embed_text(<out.cc> <c++ symbol> <input file>): generates a source file that defines
#   extern const std::string_view <symbol>;
# holding the file's text, regenerated when the input changes.
function(sc_embed_text out symbol input)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${input} -DOUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    COMMENT "Embedding ${input}")
endfunction()
