/* consumer.c - a C program built with pkg-config against the installed connectx. */
#include <connectx/connectx.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons(80);
    if (connectx(-1, NULL, 0, (struct sockaddr *)&dst, sizeof dst, NULL) != -1 || errno != EBADF) {
        fprintf(stderr, "consumer_c: expected EBADF\n");
        return 1;
    }
    puts(connectx_technique_name(CONNECTX_TECH_BIND_NO_PORT));
    return 0;
}
