# dpdc_public_headers(TARGET PREFIX)
#
# Makes the folder of the calling CMakeLists.txt includable as "PREFIX/x.h",
# by TARGET itself and by whatever links TARGET, and by nobody else. The build
# tree gets a folder of its own for TARGET holding one link, PREFIX, to the
# source folder; that folder is the only include folder TARGET hands on.
#
# So an include names the library it comes from ("policy/policy.h"), and a
# file can include a header only of a library its target links: a layer that
# reaches up fails to compile, since the higher layer's folder is not on its
# include path.
function(dpdc_public_headers target prefix)
  set(root ${CMAKE_BINARY_DIR}/include-roots/${target})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${root}/${prefix} SYMBOLIC)
  target_include_directories(${target} PUBLIC ${root})
endfunction()
