// The C tools of `orchion-bench logs`, compiled with the system's `cc` into
// the bench's scratch directory when it starts: the job's output generator,
// the baseline copier, and the checksum.

/// logtool.c (see its header comment).
let logToolSource = #"""
    /* The log-throughput bench's tools (built by orchion-bench logs with cc -O2):
     *   logtool gen BYTES [STARTFILE]   BYTES of text lines (1 to 199 bytes each,
     *                                   a fixed pseudo-random sequence) to stdout
     *                                   in 64 KiB writes; first writes its start
     *                                   (CLOCK_MONOTONIC ns) to STARTFILE
     *   logtool drain                   reads stdin to the end, prints the bytes
     *   logtool sum FILE                prints "BYTES LINES HASH" of FILE ("-": stdin)
     *   logtool baseline BYTES OUTFILE  gen | pipe | copier -> 127.0.0.1 TCP ->
     *                                   receiver -> OUTFILE; prints "START END"
     *                                   (ns: the generator's start, the last write) */
    #define _GNU_SOURCE
    #include <arpa/inet.h>
    #include <errno.h>
    #include <fcntl.h>
    #include <netinet/in.h>
    #include <stdint.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/socket.h>
    #include <sys/wait.h>
    #include <time.h>
    #include <unistd.h>

    enum { piece = 64 << 10, pattern_size = 4 << 20 };

    static uint64_t now_ns(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
    }

    static void die(const char *what) {
        fprintf(stderr, "logtool: %s: %s\n", what, strerror(errno));
        exit(1);
    }

    static void write_all(int fd, const char *bytes, size_t count) {
        while (count > 0) {
            ssize_t wrote = write(fd, bytes, count);
            if (wrote < 0 && errno == EINTR) continue;
            if (wrote <= 0) die("write");
            bytes += wrote;
            count -= (size_t)wrote;
        }
    }

    /* Lines of 1..199 bytes (the newline included) of printable text, from a
     * fixed xorshift sequence, filling exactly pattern_size bytes (the last line
     * ends at the pattern's end). The stream repeats it. */
    static char *make_pattern(void) {
        char *pattern = malloc(pattern_size);
        if (!pattern) die("malloc");
        uint64_t state = 0x9E3779B97F4A7C15ull;
        size_t at = 0;
        while (at < pattern_size) {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            size_t length = 1 + (size_t)(state % 199);
            if (pattern_size - at < length + 1 || pattern_size - at - length < 2) length = pattern_size - at;
            for (size_t i = 0; i + 1 < length; i++) pattern[at + i] = (char)('!' + (state >> (i % 56)) % 94);
            pattern[at + length - 1] = '\n';
            at += length;
        }
        return pattern;
    }

    static void gen(uint64_t bytes, const char *startfile) {
        char *pattern = make_pattern();
        if (startfile) {
            FILE *file = fopen(startfile, "w");
            if (!file) die("fopen startfile");
            fprintf(file, "%llu\n", (unsigned long long)now_ns());
            fclose(file);
        }
        uint64_t offset = 0;
        while (bytes > 0) {
            size_t count = piece;
            if (count > pattern_size - offset) count = pattern_size - offset;
            if (count > bytes) count = (size_t)bytes;
            write_all(1, pattern + offset, count);
            offset = (offset + count) % pattern_size;
            bytes -= count;
        }
    }

    static void sum(const char *path) {
        int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY);
        if (fd < 0) die(path);
        static char buffer[1 << 20];
        uint64_t bytes = 0, lines = 0, hash = 0xCBF29CE484222325ull;
        for (;;) {
            ssize_t got = read(fd, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) die("read");
            if (got == 0) break;
            for (ssize_t i = 0; i < got; i++) {
                hash = (hash ^ (unsigned char)buffer[i]) * 0x100000001B3ull;
                lines += buffer[i] == '\n';
            }
            bytes += (uint64_t)got;
        }
        printf("%llu %llu %016llx\n", (unsigned long long)bytes, (unsigned long long)lines,
            (unsigned long long)hash);
    }

    static uint64_t copy(int from, int to) {
        static char buffer[piece];
        uint64_t total = 0;
        for (;;) {
            ssize_t got = read(from, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) die("read");
            if (got == 0) return total;
            if (to >= 0) write_all(to, buffer, (size_t)got);
            total += (uint64_t)got;
        }
    }

    static void baseline(uint64_t bytes, const char *outfile) {
        char startfile[4096];
        snprintf(startfile, sizeof startfile, "%s.start", outfile);
        int output = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (output < 0) die(outfile);
        int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t length = sizeof address;
        if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0
            || listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *)&address, &length) != 0)
            die("listen on 127.0.0.1");
        int job[2];
        if (pipe2(job, O_CLOEXEC) != 0) die("pipe");
        pid_t generator = fork();
        if (generator < 0) die("fork");
        if (generator == 0) {
            dup2(job[1], 1);
            gen(bytes, startfile);
            _exit(0);
        }
        close(job[1]);
        pid_t copier = fork();
        if (copier < 0) die("fork");
        if (copier == 0) {
            int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (sock < 0 || connect(sock, (struct sockaddr *)&address, sizeof address) != 0) die("connect");
            copy(job[0], sock);
            _exit(0);
        }
        close(job[0]);
        int peer = accept(listener, NULL, NULL);
        if (peer < 0) die("accept");
        uint64_t got = copy(peer, output);
        uint64_t end = now_ns();
        int status;
        waitpid(generator, &status, 0);
        waitpid(copier, &status, 0);
        FILE *file = fopen(startfile, "r");
        unsigned long long start = 0;
        if (!file || fscanf(file, "%llu", &start) != 1) die("read startfile");
        fclose(file);
        unlink(startfile);
        if (got != bytes) {
            fprintf(stderr, "logtool: baseline received %llu bytes, expected %llu\n", (unsigned long long)got,
                (unsigned long long)bytes);
            exit(1);
        }
        printf("%llu %llu\n", start, (unsigned long long)end);
    }

    int main(int argc, char **argv) {
        if (argc >= 3 && strcmp(argv[1], "gen") == 0) {
            gen(strtoull(argv[2], NULL, 10), argc >= 4 ? argv[3] : NULL);
        } else if (argc == 2 && strcmp(argv[1], "drain") == 0) {
            printf("%llu\n", (unsigned long long)copy(0, -1));
        } else if (argc == 3 && strcmp(argv[1], "sum") == 0) {
            sum(argv[2]);
        } else if (argc == 4 && strcmp(argv[1], "baseline") == 0) {
            baseline(strtoull(argv[2], NULL, 10), argv[3]);
        } else {
            fprintf(stderr, "usage: logtool gen BYTES [STARTFILE] | drain | sum FILE | baseline BYTES OUTFILE\n");
            return 2;
        }
        return 0;
    }
    """#
