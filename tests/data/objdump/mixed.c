// A mix of what clang emits for ordinary programs: loops, switches, 32-bit
// and 64-bit arithmetic, shifts, division, byte loads, stores, legacy packet loads.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

struct hdr {
    __u8 a;
    __u16 b;
    __u32 c;
    __u64 d;
    __s8 e;
    __s16 f;
    __s32 g;
};

SEC("socket")
int run_legacy(void *skb) {
    __u64 t = load_byte(skb, 12) << 8 | load_half(skb, 14);
    return (int)(t + load_word(skb, t & 0xff));
}

SEC("mixed")
__u64 run_mixed(struct hdr *h, __u64 n) {
    __u64 acc = 0;
    __u32 x = h->c;
    for (__u64 i = 0; i < (n & 63); i++) {
        acc += i * 7 ^ (acc >> 3);
        x = x * 2654435761u + (__u32)i;
    }
    switch (h->a & 7) {
    case 0: acc += 11; break;
    case 1: acc -= 13; break;
    case 2: acc *= 17; break;
    case 3: acc /= (n | 1); break;
    case 4: acc %= (n | 3); break;
    case 5: acc = acc << (n & 31); break;
    case 6: acc = (__s64)acc >> (n & 31); break;
    default: acc = ~acc; break;
    }
    __s64 s = h->e + h->f + h->g;
    __u32 q = x / (h->b | 1) + x % 10;
    h->d = acc;
    h->b = (__u16)q;
    h->e = (__s8)s;
    __u8 bytes[8] = {};
    __builtin_memcpy(bytes, &h->d, 8);
    return acc + s + q + (bytes[0] | bytes[1] << 8 | bytes[2] << 16) + (acc < (__u64)s) + ((__s32)x < -5);
}

char _license[] SEC("license") = "GPL";
