#include "policy/policy.h"

#include "dpdc/error.h"
#include "policy/policy_dpdc.h"
#include "policy/policy_qemu.h"
#include "policy/policy_xen.h"

namespace dpdc {

std::unique_ptr<Policy> make_policy(std::string_view name, const PolicyOptions& options) {
  if (name == "xen") return std::make_unique<XenPolicy>();
  if (name == "qemu") {
    PolicyOptions q = options;
    return std::make_unique<QemuPolicy>(q);
  }
  if (name == "dpdc") return std::make_unique<DpdcPolicy>(options);
  throw Error(ErrorKind::Usage, "unknown policy '" + std::string(name) + "'; choose xen, qemu or dpdc");
}

}  // namespace dpdc
