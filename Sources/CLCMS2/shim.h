#ifndef IMGCACHE_CLCMS2_SHIM_H
#define IMGCACHE_CLCMS2_SHIM_H
#include <lcms2.h>
#endif
