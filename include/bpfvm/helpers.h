// BPF helper functions: their prototypes (shared with the verifier), the
// implementations bpfvm provides under Linux's numbers, and the pieces they
// are built from (fault-safe reads, Linux's printf rules, the trace pipe).
//
// Semantics are Linux's (bpf-helpers(7), Linux 6.1 include/uapi/linux/bpf.h);
// docs/helpers.md lists every helper and where bpfvm differs, and why.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <linux/bpf.h>

#include "bpfvm/error.h"
#include "bpfvm/vm.h"

namespace bpfvm {

// ---------------------------------------------------------------------------
// Prototypes: what a helper takes and returns, modelled on Linux's
// struct bpf_func_proto (enum bpf_arg_type / bpf_return_type), for the
// verifier and for messages.

// The base kind of an argument (Linux's ARG_*). Modifiers are in HelperArg::flags.
enum class ArgKind : uint8_t {
    None,              // ARG_DONTCARE: the helper takes fewer arguments
    Anything,          // ARG_ANYTHING: any value
    MapPtr,            // ARG_CONST_MAP_PTR: a map (lddw src=1)
    MapKey,            // ARG_PTR_TO_MAP_KEY: key_size readable bytes
    MapValue,          // ARG_PTR_TO_MAP_VALUE: value_size bytes (Uninit: written by the helper)
    Mem,               // ARG_PTR_TO_MEM: memory whose size is the next argument
    ConstSize,         // ARG_CONST_SIZE: size of the previous Mem argument, > 0
    ConstSizeOrZero,   // ARG_CONST_SIZE_OR_ZERO: the same, may be 0
    Ctx,               // ARG_PTR_TO_CTX: the program's context
    SpinLock,          // ARG_PTR_TO_SPIN_LOCK: a struct bpf_spin_lock inside a map value
    Int,               // ARG_PTR_TO_INT: 4 writable bytes
    Long,              // ARG_PTR_TO_LONG: 8 writable bytes
    AllocMem,          // ARG_PTR_TO_ALLOC_MEM: a record a helper returned (ringbuf)
    ConstAllocSizeOrZero, // ARG_CONST_ALLOC_SIZE_OR_ZERO: size of the memory the helper returns
    Func,              // ARG_PTR_TO_FUNC: a BPF function of the program (lddw src=4), a callback
    Stack,             // ARG_PTR_TO_STACK: a pointer into the program's stack
    ConstStr,          // ARG_PTR_TO_CONST_STR: a zero-terminated string in a read-only map
    BtfId,             // ARG_PTR_TO_BTF_ID: a kernel object (bpfvm has none)
    Socket,            // ARG_PTR_TO_SOCKET / SOCK_COMMON (bpfvm has none)
    Timer,             // ARG_PTR_TO_TIMER
    Kptr,              // ARG_PTR_TO_KPTR
    Dynptr,            // ARG_PTR_TO_DYNPTR
};

// Modifiers (Linux's type flags).
enum ArgFlag : uint8_t {
    kArgMaybeNull = 1 << 0, // PTR_MAYBE_NULL: NULL is allowed
    kArgReadOnly = 1 << 1,  // MEM_RDONLY: the helper only reads
    kArgUninit = 1 << 2,    // MEM_UNINIT: the helper writes it all (may be uninitialised before)
};

struct HelperArg {
    ArgKind kind = ArgKind::None;
    uint8_t flags = 0;
};

// What a helper returns (Linux's RET_*).
enum class RetKind : uint8_t {
    Integer,  // RET_INTEGER
    Void,     // RET_VOID (r0 is 0)
    MapValue, // RET_PTR_TO_MAP_VALUE: value_size bytes of the map argument
    Mem,      // RET_PTR_TO_MEM: mem_size bytes (Alloc: the size is the ConstAllocSizeOrZero argument)
    BtfId,    // RET_PTR_TO_BTF_ID: a kernel object
    Socket,   // RET_PTR_TO_SOCKET etc.
};
enum RetFlag : uint8_t {
    kRetMaybeNull = 1 << 0, // ..._OR_NULL: the program must test it against NULL
    kRetAlloc = 1 << 1,     // MEM_ALLOC: must be released (ringbuf submit/discard)
    kRetReadOnly = 1 << 2,  // MEM_RDONLY
};

struct HelperProto {
    uint32_t id = 0;             // enum bpf_func_id
    std::string_view name;       // "bpf_map_lookup_elem"
    bool described = false;      // false: only the name is known (the fields below are empty)
    bool implemented = false;    // runtime_helpers() has it
    bool gpl_only = false;       // Linux's gpl_only
    bool pkt_access = false;     // may take pointers into the packet
    RetKind ret = RetKind::Integer;
    uint8_t ret_flags = 0;
    std::array<HelperArg, 5> args{};

    int num_args() const {
        int n = 0;
        while (n < 5 && args[static_cast<size_t>(n)].kind != ArgKind::None) n++;
        return n;
    }
};

// Every helper Linux 6.1 numbers (BPF_FUNC_unspec .. __BPF_FUNC_MAX_ID - 1), by number.
std::span<const HelperProto> helper_protos();
// By number or name ("bpf_map_lookup_elem"; "map_lookup_elem" is accepted too);
// nullptr if Linux has no such helper.
const HelperProto* find_helper_proto(uint32_t id);
const HelperProto* find_helper_proto(std::string_view name);
// "bpf_trace_printk" for 6; empty for a number Linux does not use. For the
// loader's "program calls helper bpf_xxx (N), which bpfvm does not provide".
std::string_view find_helper_name(uint32_t id);
// "bpf_map_lookup_elem (1)", or "helper 999" for an unknown number.
std::string describe_helper(uint32_t id);

// Text of an argument or return kind, for messages ("pointer to map key").
std::string describe(HelperArg arg);
std::string describe_ret(RetKind kind, uint8_t flags);

// ---------------------------------------------------------------------------
// The helpers bpfvm provides, by Linux number (docs/helpers.md lists them).
// The embedding application copies it and adds its own:
//   HelperTable t = runtime_helpers(); t.add(1000, "my_helper", fn);
// bpf_tail_call (12) is not in it: it needs the loaded programs, and the
// runtime adds it (runtime_helper_table() in include/bpfvm/runtime.h).
const HelperTable& runtime_helpers();

// ---------------------------------------------------------------------------
// Calling back into the running program (bpf_loop, bpf_for_each_map_elem).
//
// A callback is the value an `lddw src=4` (BPF_PSEUDO_FUNC) loaded; the engines
// call it (ExecContext::call_function). For tests without an engine, a caller
// can be installed for the calling thread.
using FunctionCaller = uint64_t (*)(ExecContext* ctx, uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3,
                                    uint64_t r4, uint64_t r5);

// Installs `caller` for this thread for the object's lifetime (nests).
class ScopedFunctionCaller {
public:
    explicit ScopedFunctionCaller(FunctionCaller caller);
    ~ScopedFunctionCaller();
    ScopedFunctionCaller(const ScopedFunctionCaller&) = delete;
    ScopedFunctionCaller& operator=(const ScopedFunctionCaller&) = delete;

private:
    FunctionCaller previous_;
};

// The caller for this run: the engine's (ExecContext::call_function_fn) if it
// set one, else the thread's installed one, else nullptr.
FunctionCaller function_caller(ExecContext* ctx);

// ---------------------------------------------------------------------------
// Checked mode: what helpers may touch.

// Whether the program may hand [addr, addr+size) to a helper (write: for the
// helper to write): ExecContext::may_access, the engines' rule (the program's
// stack or a region; a writable one for a write). Fast mode, or size 0: true.
bool program_may_access(ExecContext* ctx, uint64_t addr, uint64_t size, bool write);

// The same for an argument of helper `helper` ("probe_read"): when the program
// may not, the run fails (ExecContext::fail) with
// "bpf_probe_read: dst (16 bytes at 0x...) is not memory the program may write"
// and the result is false.
bool check_argument_checked(ExecContext* ctx, std::string_view helper, std::string_view what, uint64_t addr,
                            uint64_t size, bool write);
inline bool check_argument(ExecContext* ctx, std::string_view helper, std::string_view what, uint64_t addr,
                           uint64_t size, bool write) {
    if (!ctx || !ctx->checked) return true; // the fast mode trusts the program
    return check_argument_checked(ctx, helper, what, addr, size, write);
}

// Checked mode: makes [addr, addr+size) accessible to the program for the
// rest of the run, unless a region already covers it. When the run's region
// table is full the run fails (naming `name`) and the result is false. Fast
// mode: true.
bool expose_to_program(ExecContext* ctx, uint64_t addr, uint64_t size, bool writable, std::string_view name);

// Region names helpers use (ExecContext regions; also in fault messages).
inline constexpr std::string_view kMapValueRegion = "map value";
inline constexpr std::string_view kRingbufRecordRegion = "ringbuf record";

// ---------------------------------------------------------------------------
// Reading this process's memory without faulting (the probe_read helpers).

// Copies n bytes from `src` into `dst`. 0, or -EFAULT if any byte of the
// source is unreadable (then dst is zeroed, as Linux does).
long read_memory(void* dst, uint64_t src, size_t n);
// strncpy_from_*_nofault: copies up to n - 1 bytes and the terminating zero.
// Returns the length including the zero; n if the string was truncated (dst[n-1]
// = 0); 0 for n = 0; -EFAULT if a byte before the zero is unreadable (then dst
// is zeroed).
long read_string(char* dst, uint64_t src, size_t n);

// ---------------------------------------------------------------------------
// Linux's formatted output for bpf_trace_printk, bpf_trace_vprintk,
// bpf_snprintf and bpf_seq_printf: bpf_bprintf_prepare's rules, then the
// kernel's vsnprintf.
//
// Accepted: %d %i %u %x %X with l or ll; flags [0 +-space] and a width;
// %c; %s (zero-terminated, read fault-safe; a bad pointer prints as empty);
// %p %pK %px %ps %pS %pB %pks %pus %pI4 %pi4 %pI6 %pi6; %%.
// Refused with -EINVAL: a precision, other conversions (%f, %n, %o, %hd, ...),
// more conversions than arguments, a format without a terminating zero in
// fmt_size bytes, ASCII control characters other than white space.
// -ENOSPC when the strings and arguments need more than 512 bytes (Linux's
// MAX_BPRINTF_BIN_ARGS).
struct FormatLimits {
    static constexpr uint32_t kMaxArgs = 12;          // MAX_BPRINTF_VARARGS
    static constexpr uint32_t kMaxTracePrintkArgs = 3; // MAX_TRACE_PRINTK_VARARGS
    static constexpr size_t kMaxBinArgs = 512;         // MAX_BPRINTF_BIN_ARGS
    static constexpr size_t kTraceBuffer = 1024;       // MAX_BPRINTF_BUF
};
// Formats `fmt` (at most fmt_size bytes, which must contain its zero) with
// args[0..num_args). Returns the length of the complete output (as vsnprintf
// does) and sets `out` to its first max_out bytes, or a negative errno.
long bprintf(std::string& out, const char* fmt, size_t fmt_size, const uint64_t* args, uint32_t num_args,
             size_t max_out = SIZE_MAX);

// ---------------------------------------------------------------------------
// Checksums (bpf_csum_diff).

// x86-64 csum_partial of an aligned buffer: the 32-bit one's complement sum of
// `data` (read as little-endian words, as x86 does) added to `seed`, in x86's
// representation.
uint32_t csum_partial(std::span<const uint8_t> data, uint32_t seed);
// bpf_csum_diff as Linux does it since 6.12 (the same on every architecture):
// the checksum of `to` plus `seed` minus the checksum of `from`, folded to 16
// bits; any sizes (docs/helpers.md says how Linux 6.1 differed).
long csum_diff(const void* from, uint32_t from_size, const void* to, uint32_t to_size, uint32_t seed);

// ---------------------------------------------------------------------------
// The trace pipe: where bpf_trace_printk writes, read like Linux's
// /sys/kernel/tracing/trace_pipe (a reader consumes the lines).
//
// A shared-memory ring in `<pin root>/trace_pipe` (the pin root is
// $BPFVM_PIN_ROOT, else /dev/shm/bpfvm), created by the first user, so that
// every bpfvm process on the machine writes to the same pipe and `bpfvm trace`
// in another terminal reads it. Writers never block on readers: when the ring
// is full the oldest lines are dropped (counted in lost()). Lines are the
// kernel's:
//   "           <comm>-<pid>     [<cpu>] ..... <sec>.<usec>: bpf_trace_printk: <text>\n"
class TracePipe {
public:
    static constexpr size_t kDefaultCapacity = 1 << 20; // bytes of lines the ring holds

    // Opens (creating if needed) the pipe under `pin_root` (empty: the default
    // pin root). Errors name the path and the reason.
    static Result<std::shared_ptr<TracePipe>> open(const std::string& pin_root = {});
    // The pipe bpf_trace_printk of this process writes to (the default pin root,
    // opened on first use); nullptr and `why` when it cannot be opened.
    static std::shared_ptr<TracePipe> process_pipe(std::string* why = nullptr);
    // The path of the pipe under `pin_root` (empty: the default).
    static std::string path_for(const std::string& pin_root = {});

    ~TracePipe();
    TracePipe(const TracePipe&) = delete;
    TracePipe& operator=(const TracePipe&) = delete;

    // Appends one line (a newline is added unless `line` ends with one).
    void write(std::string_view line);
    // Appends a bpf_trace_printk line for the calling thread: comm, thread id,
    // CPU slot, CLOCK_MONOTONIC time, then `text`.
    void write_printk(std::string_view text);
    // Takes the oldest line (with its newline), waiting up to `timeout` for one;
    // nullopt on timeout.
    std::optional<std::string> read(std::chrono::milliseconds timeout);
    // Lines dropped because the ring was full, since the pipe was created.
    uint64_t lost() const;
    const std::string& path() const { return path_; }

    struct Shared;

private:
    TracePipe() = default;
    std::string path_;
    Shared* shared_ = nullptr;
    size_t size_ = 0;
};

// The line bpf_trace_printk writes for `text` (no trailing newline):
// comm right-aligned in 16, "-", pid left-aligned in 7, " [cpu] ..... ",
// seconds (at least 5 wide) "." microseconds, ": bpf_trace_printk: ", text.
std::string format_trace_line(std::string_view comm, uint32_t pid, uint32_t cpu, uint64_t time_ns,
                              std::string_view text);

// ---------------------------------------------------------------------------
// Helpers that take no map, callable directly (tests, embedding applications).
// Each has the HelperFn signature; see docs/helpers.md for the semantics.
namespace helpers {
#define BPFVM_HELPER(name) uint64_t name(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*)
BPFVM_HELPER(map_lookup_elem);
BPFVM_HELPER(map_update_elem);
BPFVM_HELPER(map_delete_elem);
BPFVM_HELPER(map_push_elem);
BPFVM_HELPER(map_pop_elem);
BPFVM_HELPER(map_peek_elem);
BPFVM_HELPER(map_lookup_percpu_elem);
BPFVM_HELPER(for_each_map_elem);
BPFVM_HELPER(loop);
BPFVM_HELPER(probe_read);
BPFVM_HELPER(probe_read_user);
BPFVM_HELPER(probe_read_kernel);
BPFVM_HELPER(probe_read_str);
BPFVM_HELPER(probe_read_user_str);
BPFVM_HELPER(probe_read_kernel_str);
BPFVM_HELPER(ktime_get_ns);
BPFVM_HELPER(ktime_get_boot_ns);
BPFVM_HELPER(ktime_get_coarse_ns);
BPFVM_HELPER(ktime_get_tai_ns);
BPFVM_HELPER(jiffies64);
BPFVM_HELPER(get_prandom_u32);
BPFVM_HELPER(get_smp_processor_id);
BPFVM_HELPER(get_numa_node_id);
BPFVM_HELPER(get_current_pid_tgid);
BPFVM_HELPER(get_current_uid_gid);
BPFVM_HELPER(get_current_comm);
BPFVM_HELPER(get_current_cgroup_id);
BPFVM_HELPER(get_ns_current_pid_tgid);
BPFVM_HELPER(copy_from_user);
BPFVM_HELPER(trace_printk);
BPFVM_HELPER(trace_vprintk);
BPFVM_HELPER(snprintf);
BPFVM_HELPER(perf_event_output);
BPFVM_HELPER(ringbuf_output);
BPFVM_HELPER(ringbuf_reserve);
BPFVM_HELPER(ringbuf_submit);
BPFVM_HELPER(ringbuf_discard);
BPFVM_HELPER(ringbuf_query);
BPFVM_HELPER(strncmp);
BPFVM_HELPER(strtol);
BPFVM_HELPER(strtoul);
BPFVM_HELPER(csum_diff);
BPFVM_HELPER(spin_lock);
BPFVM_HELPER(spin_unlock);
BPFVM_HELPER(dynptr_from_mem);
BPFVM_HELPER(dynptr_read);
BPFVM_HELPER(dynptr_write);
BPFVM_HELPER(dynptr_data);
BPFVM_HELPER(ringbuf_reserve_dynptr);
BPFVM_HELPER(ringbuf_submit_dynptr);
BPFVM_HELPER(ringbuf_discard_dynptr);
#undef BPFVM_HELPER
} // namespace helpers

// jiffies64's clock: Linux's jiffies at HZ = 250 (Debian's CONFIG_HZ), from
// CLOCK_MONOTONIC_COARSE, starting at INITIAL_JIFFIES as Linux does.
inline constexpr uint64_t kJiffiesHz = 250;

} // namespace bpfvm
