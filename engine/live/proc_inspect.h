#pragma once
// Facts about a would-be source VMM, read from /proc: is it there, is it a
// KVM process, does it use the dirty ring, where is its QMP socket.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dpdc/dirty_track.h"

namespace dpdc {

struct OpenFile {
  int fd = -1;
  std::string target;  // readlink of /proc/<pid>/fd/<fd>
};

struct VmmProcess {
  pid_t pid = 0;
  std::string comm;
  std::vector<std::string> argv;
  bool has_kvm_vm = false;            // holds an anon_inode:kvm-vm fd
  int vcpus = 0;                      // kvm-vcpu fds
  std::uint32_t ring_entries = 0;     // per vCPU; 0 = no dirty ring mapped
  std::vector<OpenFile> files;        // its open files, as /proc/<pid>/fd lists them
};

// Throws Error(Target) naming the pid if there is no such process.
void require_process_exists(pid_t pid);

// Throws Error(Target) if the process does not exist, Error(Permission) if
// its fds cannot be read. Does not judge whether it is usable.
VmmProcess inspect_process(pid_t pid);

// Throws Error(Target) with what to give instead unless the process holds a KVM VM.
void require_kvm_vmm(const VmmProcess& vmm);
// Throws Error(Target) with what to add to the VMM's command line unless the
// process is a KVM VMM with a dirty ring.
void require_dirty_ring_vmm(const VmmProcess& vmm);

// Pure helpers (unit-tested).
// Bytes of the dirty ring mapping of vCPU 0 found in /proc/<pid>/maps text.
std::optional<std::uint64_t> dirty_ring_bytes_from_maps(std::string_view maps);
// Where a file (device major:minor, inode, as /proc/<pid>/maps prints them)
// is mapped in /proc/<pid>/maps text: one region per mapping, the page index
// of its start being its file offset / 4096. Mappings past `file_pages` are
// cut there. Used to place guest RAM pages by host address (struct dpdc_region).
std::vector<dpdc_region> file_regions_from_maps(std::string_view maps, unsigned dev_major, unsigned dev_minor,
                                                std::uint64_t inode, std::uint64_t file_pages);
// The QMP unix socket named by a QEMU-style command line (-qmp unix:PATH,...,
// or -chardev socket,id=X,path=PATH + -mon chardev=X,mode=control).
std::optional<std::string> qmp_socket_from_argv(const std::vector<std::string>& argv);

}  // namespace dpdc
