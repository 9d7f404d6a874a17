#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpdc/error.h"
#include "live/proc_inspect.h"

namespace dpdc {
namespace {

TEST(ProcInspect, FindsDirtyRingMappingOfVcpu) {
  const char* maps =
      "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0          [heap]\n"
      "7f0000000000-7f0000003000 rw-s 00000000 00:0e 1234       anon_inode:kvm-vcpu:0\n"
      "7f0000100000-7f0000110000 rw-s 00040000 00:0e 1234       anon_inode:kvm-vcpu:0\n"
      "7f0000200000-7f0000210000 rw-s 00040000 00:0e 1235       anon_inode:kvm-vcpu:1\n";
  auto bytes = dirty_ring_bytes_from_maps(maps);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(*bytes, 0x10000u);  // 4096 entries of 16 bytes
}

TEST(ProcInspect, NoRingWhenOnlyKvmRunIsMapped) {
  const char* maps = "7f0000000000-7f0000003000 rw-s 00000000 00:0e 1234 anon_inode:kvm-vcpu:0\n";
  EXPECT_FALSE(dirty_ring_bytes_from_maps(maps).has_value());
  EXPECT_FALSE(dirty_ring_bytes_from_maps("").has_value());
}

TEST(ProcInspect, QmpSocketFromQmpOption) {
  EXPECT_EQ(qmp_socket_from_argv({"qemu", "-m", "1G", "-qmp", "unix:/run/q.sock,server=on,wait=off"}),
            "/run/q.sock");
  EXPECT_EQ(qmp_socket_from_argv({"dpdc-vm", "-qmp", "unix:/tmp/a"}), "/tmp/a");
  EXPECT_EQ(qmp_socket_from_argv({"qemu", "--qmp", "unix:/tmp/b,server"}), "/tmp/b");
}

TEST(ProcInspect, QmpSocketFromChardevAndMonitor) {
  EXPECT_EQ(qmp_socket_from_argv({"qemu", "-chardev", "socket,id=mon0,path=/tmp/m.sock,server=on,wait=off", "-mon",
                                  "chardev=mon0,mode=control"}),
            "/tmp/m.sock");
  // An HMP (readline) monitor is not QMP.
  EXPECT_FALSE(qmp_socket_from_argv({"qemu", "-chardev", "socket,id=mon0,path=/tmp/m.sock,server=on", "-mon",
                                     "chardev=mon0,mode=readline"})
                   .has_value());
  EXPECT_FALSE(qmp_socket_from_argv({"qemu", "-qmp", "tcp:localhost:4444"}).has_value());
  EXPECT_FALSE(qmp_socket_from_argv({"qemu"}).has_value());
}

TEST(ProcInspect, RequireDirtyRingSaysWhatToAdd) {
  VmmProcess vmm;
  vmm.pid = 42;
  vmm.comm = "qemu-system-x86";
  try {
    require_dirty_ring_vmm(vmm);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Target);
    EXPECT_NE(std::string(e.what()).find("not a KVM process"), std::string::npos);
  }
  vmm.has_kvm_vm = true;
  try {
    require_dirty_ring_vmm(vmm);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-accel kvm,dirty-ring-size="), std::string::npos) << e.what();
  }
  vmm.ring_entries = 4096;
  EXPECT_NO_THROW(require_dirty_ring_vmm(vmm));
}

}  // namespace
}  // namespace dpdc

namespace dpdc {
namespace {

// QEMU maps its memfd backend once; a memfd is on the shmem device 00:01.
TEST(FileRegionsFromMaps, FindsEveryMappingOfTheFileAtItsOffset) {
  const std::string maps =
      "55d0c0000000-55d0c0200000 r-xp 00000000 fd:01 131 /usr/bin/qemu-system-x86_64\n"
      "7f1200000000-7f1204000000 rw-s 00000000 00:01 4242 /memfd:pc.ram (deleted)\n"
      "7f1300000000-7f1300100000 rw-s 00100000 00:01 4242 /memfd:pc.ram (deleted)\n"
      "7f1400000000-7f1400001000 rw-s 00000000 00:01 4243 /memfd:other (deleted)\n"
      "7f1500000000-7f1500001000 rw-s 00000000 00:02 4242 /elsewhere\n";
  auto r = file_regions_from_maps(maps, 0, 1, 4242, 16384);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].hva_start, 0x7f1200000000u);
  EXPECT_EQ(r[0].hva_end, 0x7f1204000000u);
  EXPECT_EQ(r[0].first_page, 0u);
  EXPECT_EQ(r[1].hva_start, 0x7f1300000000u);
  EXPECT_EQ(r[1].first_page, 0x100u);
}

TEST(FileRegionsFromMaps, AMappingPastTheFileIsCutAtItsEnd) {
  const std::string maps = "7f1200000000-7f1204000000 rw-s 00001000 00:01 7 /memfd:pc.ram (deleted)\n";
  auto r = file_regions_from_maps(maps, 0, 1, 7, 16);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first_page, 1u);
  EXPECT_EQ(r[0].hva_end - r[0].hva_start, 15u * 4096);
  EXPECT_TRUE(file_regions_from_maps(maps, 0, 1, 7, 1).empty()) << "starts at the file's end";
  EXPECT_TRUE(file_regions_from_maps(maps, 0, 1, 8, 16).empty()) << "another inode";
}

}  // namespace
}  // namespace dpdc
