/*
 * The nested guest's workload: a freestanding 32-bit multiboot kernel that uses the two functions
 * the lab guest passed through with vfio-pci, as a VM's driver would, and reports one JSON line on
 * COM1. Display function: reads the bochs VBE id from its MMIO register BAR and writes a pattern
 * into its framebuffer BAR. Audio function: resets the HDA controller and does a DMA round trip
 * (CORB/RIRB rings in guest RAM) asking codec 0 for its ids, so the device itself reads and writes
 * guest memory through the outer IOMMU. Exits QEMU through isa-debug-exit: status 1 ok, 3 failed.
 *
 * No headers, no libc: everything it needs is in this file (see nested-sysroot.ts for the build).
 */

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

/* multiboot v1 header: magic, flags 0 (an ELF image needs no address fields), checksum */
__attribute__((section(".multiboot"), used, aligned(4))) static const u32 multiboot_header[3] = {
    0x1BADB002u, 0u, (u32)-(0x1BADB002u)};

#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
#define RING_BASE 0x200000u /* CORB here, RIRB one page up: in guest RAM, away from the image */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0,%1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1,%0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0,%1" ::"a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0,%1" ::"a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1,%0" : "=a"(v) : "Nd"(port)); return v; }

static volatile u8 *mmio8(u32 a) { return (volatile u8 *)a; }
static volatile u16 *mmio16(u32 a) { return (volatile u16 *)a; }
static volatile u32 *mmio32(u32 a) { return (volatile u32 *)a; }

static void spin(u32 n) { for (volatile u32 i = 0; i < n; i++) {} }

/* ---- output: the one JSON line ---- */
static void put(char c) {
  for (u32 i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++) {}
  outb(COM1, (u8)c);
}
static void say(const char *s) { while (*s) put(*s++); }
static void hex(u32 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) put("0123456789abcdef"[(v >> (i * 4)) & 15]);
}
static void field_hex(const char *name, u32 v, int digits) {
  put('"'); say(name); say("\":\""); hex(v, digits); put('"');
}
static void field_bool(const char *name, int v) {
  put('"'); say(name); say("\":"); say(v ? "true" : "false");
}

/* ---- PCI configuration space, mechanism #1, bus 0 ---- */
static u32 cfg_addr(int dev, int fn, int reg) { return 0x80000000u | (u32)dev << 11 | (u32)fn << 8 | (u32)(reg & 0xfc); }
static u32 cfg_read(int dev, int fn, int reg) { outl(0xcf8, cfg_addr(dev, fn, reg)); return inl(0xcfc); }
static void cfg_enable(int dev, int fn, u16 bits) {
  u16 cmd = (u16)cfg_read(dev, fn, 4);
  outl(0xcf8, cfg_addr(dev, fn, 4));
  outw(0xcfc, cmd | bits);
}

#define PCI_MEM 0x2
#define PCI_BUS_MASTER 0x4

/* ---- display function: bochs/stdvga ---- */
struct vga_result { int found; int dev; u32 vbe_id; u32 readback; int ok; };

static void use_vga(int dev, struct vga_result *r) {
  cfg_enable(dev, 0, PCI_MEM);
  u32 fb = cfg_read(dev, 0, 0x10) & ~0xfu;
  u32 regs = cfg_read(dev, 0, 0x18) & ~0xfu;
  r->found = 1;
  r->dev = dev;
  r->vbe_id = *mmio16(regs + 0x500); /* VBE_DISPI_INDEX_ID through the MMIO register window */
  volatile u32 *pixel = mmio32(fb);
  u32 saved = *pixel;
  *pixel = 0x5a17c0deu;
  r->readback = *pixel;
  *pixel = saved;
  r->ok = (r->vbe_id & 0xfff0) == 0xb0c0 && r->readback == 0x5a17c0deu;
}

/* ---- audio function: Intel HDA ---- */
enum { GCAP = 0x00, GCTL = 0x08, STATESTS = 0x0e, CORBLBASE = 0x40, CORBUBASE = 0x44, CORBWP = 0x48, CORBRP = 0x4a,
       CORBCTL = 0x4c, CORBSIZE = 0x4e, RIRBLBASE = 0x50, RIRBUBASE = 0x54, RIRBWP = 0x58, RINTCNT = 0x5a,
       RIRBCTL = 0x5c, RIRBSIZE = 0x5e };

struct hda_result { int found; int dev; u32 gcap; u32 codecs; u32 vendor; u32 revision; u32 nodes; int dma; int ok; };

static int wait32(u32 addr, u32 mask, u32 want) {
  for (u32 i = 0; i < 20000; i++) {
    if ((*mmio32(addr) & mask) == want) return 1;
    spin(200);
  }
  return 0;
}

static void use_hda(int dev, int fn, struct hda_result *r) {
  cfg_enable(dev, fn, PCI_MEM | PCI_BUS_MASTER);
  u32 bar = cfg_read(dev, fn, 0x10) & ~0xfu;
  r->found = 1;
  r->dev = dev;
  r->gcap = *mmio16(bar + GCAP);
  *mmio32(bar + GCTL) = 0;
  int reset = wait32(bar + GCTL, 1, 0);
  *mmio32(bar + GCTL) = 1;
  reset = reset && wait32(bar + GCTL, 1, 1);
  for (u32 i = 0; i < 20000 && !(r->codecs = *mmio16(bar + STATESTS) & 0x7fff); i++) spin(200);

  volatile u32 *corb = mmio32(RING_BASE);
  volatile u32 *rirb = mmio32(RING_BASE + 0x1000);
  for (u32 i = 0; i < 0x800; i++) corb[i] = 0;
  *mmio8(bar + CORBCTL) = 0;
  *mmio8(bar + RIRBCTL) = 0;
  *mmio8(bar + CORBSIZE) = 2; /* 256 entries each */
  *mmio8(bar + RIRBSIZE) = 2;
  *mmio32(bar + CORBLBASE) = RING_BASE;
  *mmio32(bar + CORBUBASE) = 0;
  *mmio32(bar + RIRBLBASE) = RING_BASE + 0x1000;
  *mmio32(bar + RIRBUBASE) = 0;
  *mmio16(bar + CORBRP) = 0x8000;
  *mmio16(bar + CORBRP) = 0;
  *mmio16(bar + CORBWP) = 0;
  *mmio16(bar + RIRBWP) = 0x8000;
  *mmio16(bar + RINTCNT) = 0xff;
  *mmio8(bar + CORBCTL) = 2; /* both ring DMA engines run */
  *mmio8(bar + RIRBCTL) = 2;
  /* codec 0, node 0, GET_PARAMETER: vendor/device id, revision id, subordinate node count */
  corb[1] = 0x000F0000u;
  corb[2] = 0x000F0002u;
  corb[3] = 0x000F0004u;
  __sync_synchronize();
  *mmio16(bar + CORBWP) = 3; /* the device now reads the verbs from guest RAM and writes the answers back */
  int answered = 0;
  for (u32 i = 0; i < 20000 && !answered; i++) {
    answered = (*mmio16(bar + RIRBWP) & 0xff) == 3;
    if (!answered) spin(200);
  }
  r->vendor = rirb[2];
  r->revision = rirb[4];
  r->nodes = rirb[6];
  r->dma = answered && r->vendor != 0 && r->vendor != 0xffffffffu;
  r->ok = reset && r->codecs != 0 && r->dma;
  *mmio8(bar + CORBCTL) = 0;
  *mmio8(bar + RIRBCTL) = 0;
  *mmio32(bar + GCTL) = 0;
}

static void report_device(int dev, int fn, u32 id, u32 cls, int *first) {
  if (!*first) put(',');
  *first = 0;
  say("{\"slot\":\"00:"); hex((u32)dev, 2); put('.'); hex((u32)fn, 1);
  say("\",\"id\":\""); hex(id & 0xffff, 4); put(':'); hex(id >> 16, 4);
  say("\",\"class\":\""); hex(cls, 6); say("\"}");
}

void main(void) {
  struct vga_result vga = {0};
  struct hda_result hda = {0};
  int first = 1;
  say("WORKLOAD-START\n");
  say("WORKLOAD-RESULT {\"devices\":[");
  for (int dev = 0; dev < 32; dev++) {
    for (int fn = 0; fn < 8; fn++) {
      u32 id = cfg_read(dev, fn, 0);
      if ((id & 0xffff) == 0xffff) {
        if (fn == 0) break;
        continue;
      }
      u32 cls = cfg_read(dev, fn, 8) >> 8;
      report_device(dev, fn, id, cls, &first);
      if (cls == 0x030000 && (id & 0xffff) == 0x1234 && !vga.found) use_vga(dev, &vga);
      if ((cls >> 8) == 0x0403 && !hda.found) use_hda(dev, fn, &hda);
    }
  }
  say("],\"vga\":{");
  field_bool("found", vga.found); put(',');
  field_hex("vbeId", vga.vbe_id, 4); put(',');
  field_hex("framebufferReadback", vga.readback, 8); put(',');
  field_bool("ok", vga.ok);
  say("},\"hda\":{");
  field_bool("found", hda.found); put(',');
  field_hex("gcap", hda.gcap, 4); put(',');
  field_hex("codecs", hda.codecs, 4); put(',');
  field_hex("codecVendor", hda.vendor, 8); put(',');
  field_hex("codecRevision", hda.revision, 8); put(',');
  field_hex("codecNodes", hda.nodes, 8); put(',');
  field_bool("dma", hda.dma); put(',');
  field_bool("ok", hda.ok);
  say("},");
  int ok = vga.ok && hda.ok;
  field_bool("ok", ok);
  say("}\n");
  outb(DEBUG_EXIT, ok ? 0 : 1); /* QEMU exits with (value << 1) | 1 */
  for (;;) __asm__ volatile("cli; hlt");
}

/* multiboot enters here in 32-bit protected mode, paging off; a stack above the image, then main */
__asm__(".globl _start\n_start:\n  mov $0x180000, %esp\n  call main\n1: hlt\n  jmp 1b\n");
