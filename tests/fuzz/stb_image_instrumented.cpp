// stb_image compiled into the image fuzz target (FER_FUZZ builds only). Debian ships stb as a prebuilt
// library, which libFuzzer cannot see into; this copy of the same header is built with coverage and
// the sanitizers, and being part of the program it takes precedence over the shared library's symbols.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
