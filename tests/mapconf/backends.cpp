// The registration point: every backend the map and helper conformance suite
// runs its cases on. To add one, implement MapConfBackend and LoadedObject
// (backend.h) in a file of this directory, add it to mapconf_test's sources in
// CMakeLists.txt (with the libraries it needs), and list it here. Every case
// then runs on it as a test named MapConf_<backend>.<case>.
#include "backend.h"
#include "bpfvm_backend.h"
#include "kernel_backend.h"

namespace bpfvm::mapconf {

std::vector<BackendEntry> backends() {
    return {
        {"kernel", make_kernel_backend},
        {"bpfvm", make_bpfvm_backend},
        {"bpfvm_interp", make_bpfvm_interp_backend},
    };
}

} // namespace bpfvm::mapconf
