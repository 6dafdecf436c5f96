#ifndef IMGCACHE_CGIF_SHIM_H
#define IMGCACHE_CGIF_SHIM_H
#include <gif_lib.h>
#endif
