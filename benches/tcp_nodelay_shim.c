/* What-if shim for benches/compare.sh (WHATIF_NODELAY=1): sets TCP_NODELAY on every
 * socket the server accepts, i.e. what `HttpServer::tcp_nodelay(true)` in
 * src/http/mod.rs would do (actix-web 4 keeps the OS default, Nagle on). Measurement
 * aid only; never shipped.
 *   cc -shared -fPIC -O2 -o nodelay.so benches/tcp_nodelay_shim.c -ldl
 *   LD_PRELOAD=$PWD/nodelay.so target/release/ccfeed serve ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static void nd(int fd){ if(fd>=0){ int one=1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);} }
int accept4(int s, struct sockaddr *a, socklen_t *l, int f){
  static int (*real)(int, struct sockaddr*, socklen_t*, int);
  if(!real) real = dlsym(RTLD_NEXT, "accept4");
  int fd = real(s,a,l,f); nd(fd); return fd; }
int accept(int s, struct sockaddr *a, socklen_t *l){
  static int (*real)(int, struct sockaddr*, socklen_t*);
  if(!real) real = dlsym(RTLD_NEXT, "accept");
  int fd = real(s,a,l); nd(fd); return fd; }
