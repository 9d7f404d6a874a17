#include <gtest/gtest.h>

#include "dpdc/error.h"
#include "qemu/qemu_source.h"

namespace dpdc {
namespace {

// As QEMU 7.2 prints it for -M pc with a 64 MiB memfd backend.
constexpr const char* kInfoRamblock =
    "              Block Name    PSize              Offset               Used              Total\r\n"
    "                  pc.ram    4 KiB  0x0000000000000000 0x0000000004000000 0x0000000004000000\r\n"
    "   0000:00:02.0/vga.vram    4 KiB  0x0000000004080000 0x0000000001000000 0x0000000001000000\r\n"
    "    /rom@etc/acpi/tables    4 KiB  0x0000000005100000 0x0000000000020000 0x0000000000200000\r\n"
    "                 pc.bios    4 KiB  0x0000000004000000 0x0000000000040000 0x0000000000040000\r\n";

TEST(QemuSource, ParsesInfoRamblock) {
  auto blocks = parse_info_ramblock(kInfoRamblock);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].name, "pc.ram");
  EXPECT_EQ(blocks[0].used, 64u << 20);
  EXPECT_EQ(blocks[1].name, "0000:00:02.0/vga.vram");
  EXPECT_EQ(blocks[1].offset, 0x4080000u);
  EXPECT_EQ(blocks[2].used, 0x20000u) << "used, not total, is what the stream carries";
  EXPECT_THROW(parse_info_ramblock("Block Name PSize Offset Used Total\n"), Error);
}

TEST(QemuSource, MachineNameFromItsQomType) {
  EXPECT_EQ(machine_from_qom_type("pc-i440fx-7.2-machine"), "pc-i440fx-7.2");
  EXPECT_EQ(machine_from_qom_type("none-machine"), "none");
  EXPECT_EQ(machine_from_qom_type("odd"), "odd");
}

TEST(QemuSource, RecognisesQemuByCommOrArgv0) {
  VmmProcess p;
  p.comm = "qemu-system-x86";
  EXPECT_TRUE(is_qemu(p));
  p.comm = "kvm";
  p.argv = {"/usr/bin/qemu-system-x86_64", "-m", "64M"};
  EXPECT_TRUE(is_qemu(p));
  p.argv = {"/usr/bin/dpdc-vm"};
  p.comm = "dpdc-vm";
  EXPECT_FALSE(is_qemu(p));
}

}  // namespace
}  // namespace dpdc
