#ifndef IMGCACHE_CCURL_SHIM_H
#define IMGCACHE_CCURL_SHIM_H
#include <curl/curl.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Typed wrappers for libcurl's variadic functions, which Swift cannot call directly. */

typedef size_t (*imgcache_curl_data_callback)(char *, size_t, size_t, void *);

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
static inline CURLcode imgcache_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode imgcache_easy_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode imgcache_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}
typedef curl_socket_t (*imgcache_curl_opensocket_callback)(void *, curlsocktype, struct curl_sockaddr *);

static inline CURLcode imgcache_easy_setopt_opensocket_callback(CURL *handle, imgcache_curl_opensocket_callback value) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, value);
}

/* The numeric address curl is about to connect to, or 0 if it is not IPv4/IPv6. */
static inline int imgcache_sockaddr_string(const struct curl_sockaddr *address, char *buffer, socklen_t length) {
    if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&address->addr;
        return inet_ntop(AF_INET, &v4->sin_addr, buffer, length) != NULL;
    }
    if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&address->addr;
        return inet_ntop(AF_INET6, &v6->sin6_addr, buffer, length) != NULL;
    }
    return 0;
}

static inline curl_socket_t imgcache_open_socket(const struct curl_sockaddr *address) {
    return socket(address->family, address->socktype, address->protocol);
}

static inline CURLMcode imgcache_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}
#endif
