// lpm_trie (kernel/bpf/lpm_trie.c): longest-prefix match over
// struct bpf_lpm_trie_key { u32 prefixlen; u8 data[]; }.
//
// bpfvm keeps the prefixes in a hash table keyed by the masked key (prefixlen +
// data with the bits after the prefix cleared), with a count of entries per
// prefix length. A lookup tries the lengths present, longest first: as many
// hash lookups as distinct lengths, lock-free. get_next_key walks the keys in
// the order Linux's trie gives (post-order: a prefix after everything it
// contains, 0 before 1).
#include <algorithm>
#include <cerrno>
#include <vector>

#include "hash.h"

namespace bpfvm::maps {

namespace {

constexpr uint32_t kMaxBits = 256 * 8;

struct LpmState {
    std::atomic<uint32_t> lock;
};

uint64_t counts_offset(const MapSpec& spec) { return round_up(hash_geometry(spec, 1).end, 8); }

class LpmTrieMap : public HashMap {
public:
    void attach(bool fresh) override {
        HashMap::attach(fresh);
        lpm_ = reinterpret_cast<LpmState*>(shared_->type_state + 1024);
        counts_ = reinterpret_cast<std::atomic<uint32_t>*>(storage() + counts_offset(spec_));
        max_bits_ = (spec_.key_size - 4) * 8;
    }

    // Writes the canonical key for `key` limited to `len` bits into out.
    void masked(const void* key, uint32_t len, unsigned char* out) const {
        const auto* k = static_cast<const unsigned char*>(key);
        memcpy(out, &len, 4);
        uint32_t full = len / 8, rem = len % 8, data = spec_.key_size - 4;
        memcpy(out + 4, k + 4, full);
        uint32_t i = full;
        if (rem && i < data) {
            out[4 + i] = k[4 + i] & uint8_t(0xFF << (8 - rem));
            i++;
        }
        if (i < data) memset(out + 4 + i, 0, data - i);
    }

    void* lookup(const void* key) override {
        uint32_t plen;
        memcpy(&plen, key, 4);
        if (plen > max_bits_) return nullptr; // as Linux
        uint32_t len = plen;
        unsigned char buf[4 + 256];
        for (int64_t l = len; l >= 0; l--) {
            if (!counts_[l].load(std::memory_order_acquire)) continue;
            masked(key, uint32_t(l), buf);
            if (HashElem* e = find(buf, hash_of(buf))) return value_of(e);
        }
        return nullptr;
    }
    void* lookup_percpu(const void*, uint32_t) override { return nullptr; }

    long update(const void* key, const void* value, uint64_t flags) override {
        if (flags > BPF_EXIST) return -EINVAL;
        uint32_t plen;
        memcpy(&plen, key, 4);
        if (plen > max_bits_) return -EINVAL;
        unsigned char buf[4 + 256];
        masked(key, plen, buf);
        WordLock g(lpm_->lock);
        bool exists = find(buf, hash_of(buf)) != nullptr;
        if (exists && flags == BPF_NOEXIST) return -EEXIST;
        if (!exists && flags == BPF_EXIST) return -ENOENT;
        if (!exists && state_->count.load(std::memory_order_relaxed) >= spec_.max_entries) return -ENOSPC;
        long r = upsert(buf, value, BPF_ANY, false);
        if (r == 0) {
            if (HashElem* e = find(buf, hash_of(buf))) memcpy(given_key(e), key, key_size_);
            if (!exists) counts_[plen].fetch_add(1, std::memory_order_release);
        }
        return r;
    }

    long erase(const void* key) override {
        uint32_t plen;
        memcpy(&plen, key, 4);
        if (plen > max_bits_) return -EINVAL;
        unsigned char buf[4 + 256];
        masked(key, plen, buf);
        WordLock g(lpm_->lock);
        long r = remove(buf, nullptr, 0);
        if (r == 0) counts_[plen].fetch_sub(1, std::memory_order_release);
        return r;
    }

    long for_each(ForEachCallback, void*, uint64_t) override { return -EINVAL; }

protected:
    long do_sys_lookup(const void* key, void* value, uint64_t flags) override {
        void* v = lookup(key);
        if (!v) return -ENOENT;
        copy_out(value, v, flags);
        return 0;
    }
    long do_sys_update(const void* key, const void* value, uint64_t flags) override {
        return update(key, value, flags);
    }
    long do_sys_delete(const void* key) override { return erase(key); }
    long do_sys_lookup_and_delete(const void*, void*, uint64_t) override { return -kENOTSUPP; }
    long do_batch(int cmd, const void* in_batch, void* out_batch, void* keys, void* values, uint32_t* count,
                  uint64_t elem_flags) override {
        return Map::do_batch(cmd, in_batch, out_batch, keys, values, count, elem_flags);
    }

    // The key as the last update gave it (Linux keeps those bytes in the node).
    unsigned char* given_key(HashElem* e) const { return value_of(e) + round_up(spec_.value_size, 8); }

    static bool bit(const unsigned char* k, uint32_t i) { return (k[4 + i / 8] >> (7 - i % 8)) & 1; }
    // Post-order of the trie: true if a comes before b.
    static bool before(const unsigned char* a, const unsigned char* b) {
        uint32_t la, lb;
        memcpy(&la, a, 4);
        memcpy(&lb, b, 4);
        uint32_t m = std::min(la, lb);
        for (uint32_t i = 0; i < m; i++) {
            bool x = bit(a, i), y = bit(b, i);
            if (x != y) return !x;
        }
        return la > lb;
    }

    long do_sys_get_next_key(const void* key, void* next_key) override {
        std::vector<HashElem*> all;
        WordLock g(lpm_->lock);
        for (uint32_t bi = 0; bi < n_buckets_; bi++)
            for (uint32_t n = buckets_[bi].head.load(std::memory_order_acquire); !(n & kNulls);
                 n = elem(n)->next.load(std::memory_order_acquire))
                all.push_back(elem(n));
        if (all.empty()) return -ENOENT;
        std::sort(all.begin(), all.end(),
                  [this](HashElem* a, HashElem* b) { return before(key_of(a), key_of(b)); });
        size_t next = 0;
        if (key) {
            uint32_t plen;
            memcpy(&plen, key, 4);
            if (plen <= max_bits_) {
                unsigned char buf[4 + 256];
                masked(key, plen, buf);
                for (size_t i = 0; i < all.size(); i++)
                    if (memcmp(key_of(all[i]), buf, key_size_) == 0) {
                        next = i + 1;
                        break;
                    }
            }
        }
        if (next >= all.size()) return -ENOENT;
        memcpy(next_key, given_key(all[next]), key_size_);
        return 0;
    }

    LpmState* lpm_ = nullptr;
    std::atomic<uint32_t>* counts_ = nullptr;
    uint32_t max_bits_ = 0;
};

} // namespace

uint64_t lpm_storage(const MapSpec& spec) { return counts_offset(spec) + (uint64_t(kMaxBits) + 1) * 4; }

std::unique_ptr<Map> make_lpm_trie() { return std::make_unique<LpmTrieMap>(); }

} // namespace bpfvm::maps
