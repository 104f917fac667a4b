// runtime_helpers(): every helper bpfvm implements, by Linux number.
#include "bpfvm/helpers.h"

namespace bpfvm {

const HelperTable& runtime_helpers() {
    static const HelperTable table = [] {
        HelperTable t;
        auto add = [&](uint32_t id, HelperFn fn) { t.add(id, std::string(find_helper_name(id)), fn); };
        add(BPF_FUNC_map_lookup_elem, helpers::map_lookup_elem);
        add(BPF_FUNC_map_update_elem, helpers::map_update_elem);
        add(BPF_FUNC_map_delete_elem, helpers::map_delete_elem);
        add(BPF_FUNC_probe_read, helpers::probe_read);
        add(BPF_FUNC_ktime_get_ns, helpers::ktime_get_ns);
        add(BPF_FUNC_trace_printk, helpers::trace_printk);
        add(BPF_FUNC_get_prandom_u32, helpers::get_prandom_u32);
        add(BPF_FUNC_get_smp_processor_id, helpers::get_smp_processor_id);
        add(BPF_FUNC_get_current_pid_tgid, helpers::get_current_pid_tgid);
        add(BPF_FUNC_get_current_uid_gid, helpers::get_current_uid_gid);
        add(BPF_FUNC_get_current_comm, helpers::get_current_comm);
        add(BPF_FUNC_perf_event_output, helpers::perf_event_output);
        add(BPF_FUNC_csum_diff, helpers::csum_diff);
        add(BPF_FUNC_get_numa_node_id, helpers::get_numa_node_id);
        add(BPF_FUNC_probe_read_str, helpers::probe_read_str);
        add(BPF_FUNC_get_current_cgroup_id, helpers::get_current_cgroup_id);
        add(BPF_FUNC_jiffies64, helpers::jiffies64);
        add(BPF_FUNC_map_push_elem, helpers::map_push_elem);
        add(BPF_FUNC_map_pop_elem, helpers::map_pop_elem);
        add(BPF_FUNC_map_peek_elem, helpers::map_peek_elem);
        add(BPF_FUNC_spin_lock, helpers::spin_lock);
        add(BPF_FUNC_spin_unlock, helpers::spin_unlock);
        add(BPF_FUNC_strtol, helpers::strtol);
        add(BPF_FUNC_strtoul, helpers::strtoul);
        add(BPF_FUNC_get_ns_current_pid_tgid, helpers::get_ns_current_pid_tgid);
        add(BPF_FUNC_probe_read_user, helpers::probe_read_user);
        add(BPF_FUNC_probe_read_kernel, helpers::probe_read_kernel);
        add(BPF_FUNC_probe_read_user_str, helpers::probe_read_user_str);
        add(BPF_FUNC_probe_read_kernel_str, helpers::probe_read_kernel_str);
        add(BPF_FUNC_ktime_get_boot_ns, helpers::ktime_get_boot_ns);
        add(BPF_FUNC_ringbuf_output, helpers::ringbuf_output);
        add(BPF_FUNC_ringbuf_reserve, helpers::ringbuf_reserve);
        add(BPF_FUNC_ringbuf_submit, helpers::ringbuf_submit);
        add(BPF_FUNC_ringbuf_discard, helpers::ringbuf_discard);
        add(BPF_FUNC_ringbuf_query, helpers::ringbuf_query);
        add(BPF_FUNC_copy_from_user, helpers::copy_from_user);
        add(BPF_FUNC_ktime_get_coarse_ns, helpers::ktime_get_coarse_ns);
        add(BPF_FUNC_for_each_map_elem, helpers::for_each_map_elem);
        add(BPF_FUNC_snprintf, helpers::snprintf);
        add(BPF_FUNC_trace_vprintk, helpers::trace_vprintk);
        add(BPF_FUNC_loop, helpers::loop);
        add(BPF_FUNC_strncmp, helpers::strncmp);
        add(BPF_FUNC_dynptr_from_mem, helpers::dynptr_from_mem);
        add(BPF_FUNC_ringbuf_reserve_dynptr, helpers::ringbuf_reserve_dynptr);
        add(BPF_FUNC_ringbuf_submit_dynptr, helpers::ringbuf_submit_dynptr);
        add(BPF_FUNC_ringbuf_discard_dynptr, helpers::ringbuf_discard_dynptr);
        add(BPF_FUNC_dynptr_read, helpers::dynptr_read);
        add(BPF_FUNC_dynptr_write, helpers::dynptr_write);
        add(BPF_FUNC_dynptr_data, helpers::dynptr_data);
        add(BPF_FUNC_map_lookup_percpu_elem, helpers::map_lookup_percpu_elem);
        add(BPF_FUNC_ktime_get_tai_ns, helpers::ktime_get_tai_ns);
        return t;
    }();
    return table;
}

} // namespace bpfvm
