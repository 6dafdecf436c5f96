#ifndef IMGCACHE_CJXL_SHIM_H
#define IMGCACHE_CJXL_SHIM_H
#include <jxl/decode.h>
#endif
