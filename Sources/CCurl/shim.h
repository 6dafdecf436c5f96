#ifndef IMGCACHE_CCURL_SHIM_H
#define IMGCACHE_CCURL_SHIM_H
#include <curl/curl.h>

/* Typed wrappers for libcurl's variadic functions, which Swift cannot call directly. */

typedef size_t (*imgcache_curl_data_callback)(char *, size_t, size_t, void *);
typedef int (*imgcache_curl_prereq_callback)(void *, char *, char *, int, int);

static inline CURLcode imgcache_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode imgcache_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode imgcache_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode imgcache_easy_setopt_data_callback(CURL *handle, CURLoption option, imgcache_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode imgcache_easy_setopt_prereq_callback(CURL *handle, imgcache_curl_prereq_callback value) {
    return curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, value);
}
static inline CURLcode imgcache_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode imgcache_easy_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode imgcache_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLMcode imgcache_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}
#endif
