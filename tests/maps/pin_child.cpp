// A second process for the pinning tests: opens a pinned map and reads or
// writes it. Usage: maps_pin_child <pin_root> <pin path> <command> [args...]
//   read <index>           print the u64 at array/hash key <index> (or "absent")
//   write <index> <value>  program-side update of key <index>
//   create-hash <n>        create a hash map, fill keys 0..n-1 with key*10, pin it, exit
//   ringbuf <n>            output n records (u64 1..n) into a pinned ringbuf
//   percpu <index>         print every slot of a per-CPU array value
//   open                   print "ok <type> <max_entries>" or the error
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bpfvm/map.h"

using namespace bpfvm;

int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s <pin_root> <path> <command> [args]\n", argv[0]);
        return 2;
    }
    MapOptions o;
    o.pin_root = argv[1];
    std::string path = argv[2], cmd = argv[3];
    if (cmd == "create-hash") {
        MapSpec s;
        s.type = BPF_MAP_TYPE_HASH;
        s.key_size = 4;
        s.value_size = 8;
        s.max_entries = 100;
        s.name = "child_hash";
        auto m = Map::create(s, o);
        if (!m) {
            printf("%s\n", m.error().message.c_str());
            return 1;
        }
        uint32_t n = uint32_t(atoi(argv[4]));
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v = uint64_t(i) * 10;
            (*m)->update(&i, &v, BPF_ANY);
        }
        auto r = (*m)->pin(path);
        if (!r) {
            printf("%s\n", r.error().message.c_str());
            return 1;
        }
        printf("pinned\n");
        return 0;
    }
    auto m = Map::open_pinned(path, o);
    if (!m) {
        printf("%s\n", m.error().message.c_str());
        return cmd == "open" ? 0 : 1;
    }
    Map& map = **m;
    if (cmd == "open") {
        printf("ok %u %u\n", map.type(), map.max_entries());
    } else if (cmd == "read") {
        uint32_t k = uint32_t(atoi(argv[4]));
        auto* v = static_cast<uint64_t*>(map.lookup(&k));
        if (v) printf("%llu\n", (unsigned long long)*v);
        else printf("absent\n");
    } else if (cmd == "write") {
        uint32_t k = uint32_t(atoi(argv[4]));
        uint64_t v = strtoull(argv[5], nullptr, 10);
        printf("%ld\n", map.update(&k, &v, BPF_ANY));
    } else if (cmd == "ringbuf") {
        uint64_t n = strtoull(argv[4], nullptr, 10);
        for (uint64_t i = 1; i <= n; i++)
            while (map.ringbuf_output(&i, 8, 0) != 0) {
            }
        printf("done\n");
    } else if (cmd == "percpu") {
        uint32_t k = uint32_t(atoi(argv[4]));
        std::string all(map.sys_value_size(), '\0');
        long r = map.sys_lookup(&k, all.data(), 0);
        if (r) {
            printf("%ld\n", r);
            return 1;
        }
        for (uint32_t c = 0; c < map.nr_cpus(); c++) {
            uint64_t v;
            memcpy(&v, all.data() + 8 * c, 8);
            printf("%s%llu", c ? " " : "", (unsigned long long)v);
        }
        printf("\n");
    } else {
        fprintf(stderr, "unknown command %s\n", cmd.c_str());
        return 2;
    }
    return 0;
}
