#ifndef IMGCACHE_CTIFF_SHIM_H
#define IMGCACHE_CTIFF_SHIM_H
#include <tiffio.h>
#endif
