#ifndef IMGCACHE_CHEIF_SHIM_H
#define IMGCACHE_CHEIF_SHIM_H
#include <libheif/heif.h>
#endif
