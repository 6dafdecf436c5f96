#ifndef IMGCACHE_CRSVG_SHIM_H
#define IMGCACHE_CRSVG_SHIM_H
#include <librsvg/rsvg.h>
#include <cairo.h>
#endif
