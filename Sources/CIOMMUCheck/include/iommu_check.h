/*
 * iommu_check.h -- the plug-in ABI of iommu-conformance, version 2.
 *
 * A plug-in is a shared library that exports one function:
 *
 *     const struct iommu_check_plugin *iommu_check_plugin_v2(void);
 *
 * (A version-1 plug-in exports iommu_check_plugin_v1 and still loads; see the end of this
 * header for what changed and how to update.)
 *
 * It returns a table that lives as long as the library is loaded. The table names the plug-in,
 * states the ABI version it was built against, and points at one table of functions per
 * surface it implements (NULL for a surface it does not). The checker (iommu-check run
 * --plugin PATH) runs each surface the plug-in provides in lockstep with the reference model
 * and reports the first disagreement. docs/SEMANTICS.md states every rule; docs/PLUGINS.md
 * shows a C and a Rust implementation.
 *
 * General rules:
 *  - Every function is called from one thread at a time, with a handle its surface's create
 *    function returned. The checker destroys every handle it creates.
 *  - Status codes: 0 is success; any other value must be one of the codes listed for that
 *    function. An unknown code, an impossible value or a missing result is reported as a
 *    conformance failure with the trace that produced it.
 *  - The checker runs plug-ins in a child process by default, so a crash or a hang is reported
 *    with its trace instead of ending the campaign.
 *  - Addresses and lengths are bytes. Ranges given as (first, last) are inclusive.
 *  - Configuration and topology structs passed to create are valid only during that call: copy
 *    what you keep. Host callback tables stay valid until destroy.
 *  - Permission and access bits: IOMMU_CHECK_READ = 1, IOMMU_CHECK_WRITE = 2.
 */
#ifndef IOMMU_CHECK_H
#define IOMMU_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOMMU_CHECK_ABI_VERSION 2u
/* Additions within a version append fields and raise the revision; the checker reads a field
 * only from plug-ins built at or after the revision that added it. */
#define IOMMU_CHECK_ABI_REVISION 3u

#define IOMMU_CHECK_READ 1u
#define IOMMU_CHECK_WRITE 2u

/* An inclusive address range. */
struct iommu_check_range {
    uint64_t first;
    uint64_t last;
};

/* One mapping: length bytes at iova reaching phys, with permissions (IOMMU_CHECK_READ/WRITE). */
struct iommu_check_extent {
    uint64_t iova;
    uint64_t length;
    uint64_t phys;
    uint32_t permissions;
    uint32_t reserved; /* zero */
};

/* ------------------------------------------------------------------------------------------
 * AddressSpace: map / unmap / translate (docs/SEMANTICS.md, "Address space").
 * ------------------------------------------------------------------------------------------ */

/* Status codes of map and unmap, one per error of the model. */
enum iommu_check_as_status {
    IOMMU_CHECK_AS_OK = 0,
    IOMMU_CHECK_AS_NO_PERMISSION = 1,    /* neither read nor write */
    IOMMU_CHECK_AS_ZERO_LENGTH = 2,
    IOMMU_CHECK_AS_MISALIGNED = 3,       /* iova, length or phys not aligned to the page size */
    IOMMU_CHECK_AS_OVERFLOW = 4,         /* a range wraps past 2^64 (iommufd: or an argument is U64_MAX) */
    IOMMU_CHECK_AS_OUTSIDE_APERTURE = 5,
    IOMMU_CHECK_AS_RESERVED_REGION = 6,
    IOMMU_CHECK_AS_OVERLAP = 7,
    IOMMU_CHECK_AS_MAPPING_LIMIT = 8,
    IOMMU_CHECK_AS_BISECTS_MAPPING = 9,  /* partial_unmap == REJECT_BISECT */
    IOMMU_CHECK_AS_PARTIAL_UNMAP = 10,   /* a mapping the range covers only in part */
    IOMMU_CHECK_AS_NOTHING_TO_UNMAP = 11,/* empty_unmap == FAIL */
    IOMMU_CHECK_AS_UNMAP_ALL_ARGUMENTS = 12, /* unmap_all == FLAG with a non-zero iova or length */
    IOMMU_CHECK_AS_NOT_SUPPORTED = 13,   /* a shadow host without atomic replace was asked to replace */
    /* Revision 2, map only: the interface accepted the request (it broke none of its rules) but
     * the plug-in could not carry it out, so what follows cannot be observed (VFIO: pinning the
     * memory failed after every check passed). The case ends there, counted and not failed,
     * where the model accepts the request too; where the model refuses it, it is a disagreement.
     * A run whose cases mostly end this way fails its health check. */
    IOMMU_CHECK_AS_UNOBSERVABLE = 14
};

/* Translation results: 0 is success, with the physical address written to *phys. */
enum iommu_check_fault {
    IOMMU_CHECK_FAULT_NONE = 0,
    IOMMU_CHECK_FAULT_NOT_MAPPED = 1,
    IOMMU_CHECK_FAULT_PERMISSION_DENIED = 2,
    IOMMU_CHECK_FAULT_OUTSIDE_APERTURE = 3
};

/* The policy: one switch per rule on which the real interfaces differ (docs/SEMANTICS.md,
 * "Policies"; `iommu-check explain --surface address-space --policy P` prints a preset's). */

/* What an unmap does to a mapping it covers only in part. */
enum iommu_check_partial_unmap {
    IOMMU_CHECK_REJECT_BISECT = 0,          /* VFIO type1 v2: fail, remove nothing */
    IOMMU_CHECK_REJECT_PARTIAL = 1,         /* virtio-iommu: fail, remove nothing */
    IOMMU_CHECK_REMOVE_OVERLAPPING = 2,     /* QEMU iova_tree_remove: remove it whole */
    IOMMU_CHECK_SPLIT = 3,                  /* a raw page table: remove the covered part */
    IOMMU_CHECK_REMOVE_UNTIL_PARTIAL = 4,   /* iommufd: remove covered ones lowest first, fail at it */
    IOMMU_CHECK_REMOVE_STARTING_INSIDE = 5, /* VFIO type1 v1 */
    IOMMU_CHECK_CUT_AT_EDGES = 6            /* iommufd VFIO compat, type1 v1 */
};

/* What an unmap that removes nothing returns. */
enum iommu_check_empty_unmap {
    IOMMU_CHECK_EMPTY_SUCCEEDS = 0, /* success, 0 bytes (VFIO, virtio-iommu) */
    IOMMU_CHECK_EMPTY_FAILS = 1     /* IOMMU_CHECK_AS_NOTHING_TO_UNMAP (iommufd) */
};

enum iommu_check_rule_status {
    IOMMU_CHECK_RULE_ENFORCED = 0,
    IOMMU_CHECK_RULE_ABSENT = 1,
    IOMMU_CHECK_RULE_UNSPECIFIED = 2 /* the sources leave it open: either answer conforms */
};

enum iommu_check_phys_wrap {
    IOMMU_CHECK_PHYS_INCLUSIVE_END = 0, /* phys + length - 1 must not wrap (VFIO) */
    IOMMU_CHECK_PHYS_EXCLUSIVE_END = 1, /* phys + length must not wrap (iommufd) */
    IOMMU_CHECK_PHYS_UNSPECIFIED = 2,
    IOMMU_CHECK_PHYS_ABSENT = 3         /* not tested (QEMU iova-tree) */
};

enum iommu_check_write_only_reads {
    IOMMU_CHECK_WRITE_ONLY_DENIED = 0,  /* a read of a write-only mapping faults */
    IOMMU_CHECK_WRITE_ONLY_ALLOWED = 1, /* write implies read */
    IOMMU_CHECK_WRITE_ONLY_EITHER = 2   /* virtio-iommu: the device MAY allow reads */
};

enum iommu_check_unmap_all {
    IOMMU_CHECK_UNMAP_ALL_FLAG = 0,     /* VFIO_DMA_UNMAP_FLAG_ALL: iova and length must be 0 */
    IOMMU_CHECK_UNMAP_ALL_SENTINEL = 1, /* iommufd: unmap(0, U64_MAX) is unmap-all */
    IOMMU_CHECK_UNMAP_ALL_RESET = 2     /* no such request: remove everything */
};

enum iommu_check_byte_report {
    IOMMU_CHECK_BYTES_NOT_REPORTED = 0, /* virtio-iommu, QEMU iova-tree: not compared */
    IOMMU_CHECK_BYTES_ON_SUCCESS = 1,
    IOMMU_CHECK_BYTES_EVEN_ON_FAILURE = 2 /* iommufd VFIO compat */
};

enum iommu_check_reserved_kind {
    IOMMU_CHECK_RESERVED = 0, /* VIRTIO_IOMMU_RESV_MEM_T_RESERVED: a DMA faults */
    IOMMU_CHECK_RESERVED_MSI = 1 /* VIRTIO_IOMMU_RESV_MEM_T_MSI: an MSI doorbell */
};

struct iommu_check_reserved_region {
    uint64_t first;
    uint64_t last;
    uint32_t kind;     /* enum iommu_check_reserved_kind */
    uint32_t reserved; /* zero */
};

struct iommu_check_as_config {
    uint64_t page_size;       /* the granule: a power of two, 1 ... 1 GiB */
    uint64_t aperture_first;  /* IOVAs aperture_first ... aperture_last are addressable */
    uint64_t aperture_last;
    uint64_t mapping_limit;   /* most mappings at once; UINT64_MAX: no limit */
    uint32_t reserved_count;  /* number of entries in reserved */
    uint32_t padding;         /* zero */
    const struct iommu_check_reserved_region *reserved; /* never mappable */
    const char *policy;       /* the policy as iommu-check spells it: "iommufd", "virtio-iommu:bytes=on-success" */
    /* The policy's switches, each as its enum (or 0/1): */
    uint32_t partial_unmap;   /* enum iommu_check_partial_unmap */
    uint32_t empty_unmap;     /* enum iommu_check_empty_unmap */
    uint32_t permission_required; /* enum iommu_check_rule_status: a map with no access */
    uint32_t phys_wrap;       /* enum iommu_check_phys_wrap */
    uint32_t write_only_reads;/* enum iommu_check_write_only_reads */
    uint32_t unmap_all;       /* enum iommu_check_unmap_all */
    uint32_t bytes;           /* enum iommu_check_byte_report */
    uint32_t unmap_alignment; /* 1: an unmap's iova and length must be page-aligned */
    uint32_t ulong_max_overflow; /* 1: an iova or length of U64_MAX is OVERFLOW (iommufd) */
    uint32_t has_aperture;    /* 0: no aperture, no reserved regions (QEMU iova-tree) */
    uint32_t aperture_is_reserved; /* 1: OUTSIDE_APERTURE and RESERVED_REGION are one test */
    uint32_t msi_doorbell;    /* 1: a DMA into an MSI region reaches it untranslated (phys = iova) */
    uint32_t driver_requirements; /* 1: virtio-iommu driver MUSTs leave the answer open */
    uint32_t padding2;        /* zero */
};

struct iommu_check_address_space_ops {
    /* A new, empty address space for config, or NULL if the plug-in cannot support config
     * (the run reports which configuration was refused). */
    void *(*create)(const struct iommu_check_as_config *config);
    void (*destroy)(void *space);
    /* Maps [iova, iova + length) to [phys, phys + length). Returns an iommu_check_as_status.
     * A failed map changes nothing. */
    int32_t (*map)(void *space, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions);
    /* Unmaps [iova, iova + length) under the configured policy. *bytes is 0 on entry: write the
     * bytes removed on success, and on failure the bytes removed before the failure (where the
     * policy removes some first). Returns an iommu_check_as_status. */
    int32_t (*unmap)(void *space, uint64_t iova, uint64_t length, uint64_t *bytes);
    /* Unmap-all with the request's iova and length fields (0, 0 normally); *bytes as for unmap. */
    int32_t (*unmap_all)(void *space, uint64_t iova, uint64_t length, uint64_t *bytes);
    /* Where an access (IOMMU_CHECK_READ or IOMMU_CHECK_WRITE) at iova goes: returns an
     * iommu_check_fault; on IOMMU_CHECK_FAULT_NONE writes the physical address to *phys. */
    int32_t (*translate)(void *space, uint64_t iova, uint32_t access, uint64_t *phys);
    /* Writes the mappings overlapping [first, last], whole and in IOVA order, to out (at most
     * capacity of them) and returns how many there are; the checker calls again with a larger
     * buffer if the count exceeds capacity. Permissions may be 0 where the policy lets a map
     * request no access. May be NULL where capabilities->unobservable has
     * IOMMU_CHECK_UNOBSERVABLE_MAPPINGS. */
    size_t (*mappings)(void *space, uint64_t first, uint64_t last, struct iommu_check_extent *out, size_t capacity);
    /* Revision 2, optional (NULL: the checker calls translate once per probe): translate of
     * count probes at once, for an implementation where one translation is costly and many cost
     * little more (a real device's DMA). faults[i] and phys[i] are as translate's result and
     * *phys for iovas[i] and accesses[i]. */
    void (*translate_many)(void *space, size_t count, const uint64_t *iovas, const uint32_t *accesses, int32_t *faults, uint64_t *phys);
};

/* ------------------------------------------------------------------------------------------
 * Isolation: groups, ownership, attach, PASID (docs/SEMANTICS.md, "Isolation").
 * ------------------------------------------------------------------------------------------ */

/* The rules an operation can break; the errno Linux returns for each is in docs/SEMANTICS.md.
 * A back end that knows only the errno may return any status of that errno. */
enum iommu_check_isolation_status {
    IOMMU_CHECK_ISO_OK = 0,
    IOMMU_CHECK_ISO_NO_SUCH_OBJECT = 1,     /* ENOENT */
    IOMMU_CHECK_ISO_NOT_VIABLE = 2,         /* EPERM: a kernel DMA-API driver holds the group */
    IOMMU_CHECK_ISO_OWNED_BY_OTHER = 3,     /* EPERM */
    IOMMU_CHECK_ISO_NOT_OWNER = 4,          /* ENOENT */
    IOMMU_CHECK_ISO_GROUP_OWNED = 5,        /* EBUSY: a kernel driver cannot bind in an owned group */
    IOMMU_CHECK_ISO_DOMAIN_NOT_OWNED = 6,   /* ENOENT */
    IOMMU_CHECK_ISO_NO_PASID_SUPPORT = 7,   /* EOPNOTSUPP */
    IOMMU_CHECK_ISO_ALREADY_CLAIMED = 8,    /* EPERM: the group API, the same owner again */
    IOMMU_CHECK_ISO_NOT_USER_ACCESS = 9,    /* ENODEV: no user-access driver, no device file */
    IOMMU_CHECK_ISO_ALREADY_BOUND = 10,     /* EINVAL: the device is claimed already */
    IOMMU_CHECK_ISO_ATTACHED_ELSEWHERE = 11,/* EINVAL: the group (or PASID) is on another domain */
    IOMMU_CHECK_ISO_ALREADY_ATTACHED = 12,  /* EBUSY */
    IOMMU_CHECK_ISO_OTHER_INTERFACE = 13,   /* EBUSY: held through the group API / device API */
    IOMMU_CHECK_ISO_DEVICE_IN_USE = 14      /* EBUSY: a claimed device's driver cannot change */
};

enum iommu_check_driver {
    IOMMU_CHECK_DRIVER_NONE = 0,
    IOMMU_CHECK_DRIVER_KERNEL = 1,         /* uses the DMA API: counts against the group */
    IOMMU_CHECK_DRIVER_USER_ACCESS = 2,    /* vfio-pci */
    IOMMU_CHECK_DRIVER_MANAGED = 3         /* driver_managed_dma (pci-stub, pcieport): no count */
};

/* Where a DMA goes. */
enum iommu_check_dma_result {
    IOMMU_CHECK_DMA_REACHED = 0,       /* *domain and *phys are written */
    IOMMU_CHECK_DMA_KERNEL_DOMAIN = 1, /* the group is not user-owned */
    IOMMU_CHECK_DMA_BLOCKED = 2,       /* owned, attached to no domain */
    IOMMU_CHECK_DMA_NO_DOMAIN = 3,     /* PASID-tagged, no domain for that PASID */
    IOMMU_CHECK_DMA_NOT_MAPPED = 4,
    IOMMU_CHECK_DMA_PERMISSION_DENIED = 5,
    IOMMU_CHECK_DMA_OUTSIDE_APERTURE = 6,
    IOMMU_CHECK_DMA_BYPASS = 7         /* owned, attached to no domain, policy bypass: identity */
};

/* The isolation policy's switches (docs/SEMANTICS.md, "Isolation"). */
enum iommu_check_ownership_interface {
    IOMMU_CHECK_INTERFACE_GROUP = 0,   /* claim/release/attach/detach name a group (VFIO container) */
    IOMMU_CHECK_INTERFACE_DEVICE = 1   /* claim_device/... name a device (vfio cdev + iommufd) */
};
enum iommu_check_pasid_support {
    IOMMU_CHECK_PASID_NONE = 0,
    IOMMU_CHECK_PASID_GROUP_WIDE = 1   /* one domain per (group, PASID) */
};
enum iommu_check_detached_dma {
    IOMMU_CHECK_DETACHED_BLOCKED = 0,
    IOMMU_CHECK_DETACHED_BYPASS = 1
};
enum iommu_check_reattach {
    IOMMU_CHECK_REATTACH_REFUSED = 0,  /* IOMMU_CHECK_ISO_ALREADY_ATTACHED */
    IOMMU_CHECK_REATTACH_REPLACES = 1
};

struct iommu_check_topology {
    uint32_t device_count;        /* at most 64 */
    const uint32_t *group_of;     /* the group of each device */
    uint32_t group_count;
    const uint8_t *pasid_capable; /* per device, 0 or 1 */
    uint32_t context_count;
    uint32_t domain_count;
    const uint32_t *domain_owner; /* the owning context of each domain */
    const uint32_t *initial_driver; /* per device, enum iommu_check_driver */
    uint32_t max_pasid;           /* PASIDs are 1 ... max_pasid (< 2^20) */
    /* Every domain maps 16 pages read-write at 0x10000 and one read-only page at 0x20000 to
     * host-physical ((domain + 1) << 32) + iova (docs/SEMANTICS.md). */
    uint32_t interface;           /* enum iommu_check_ownership_interface */
    uint32_t pasid_support;       /* enum iommu_check_pasid_support */
    uint32_t detached;            /* enum iommu_check_detached_dma */
    uint32_t reattach;            /* enum iommu_check_reattach */
};

/* Call checkpoint(context) after each change of DMA-relevant state (a context entry written,
 * an owner recorded), never in the middle of one: the checker DMAs from every device then. */
struct iommu_check_isolation_host {
    void *context;
    void (*checkpoint)(void *context);
};

struct iommu_check_isolation_ops {
    void *(*create)(const struct iommu_check_topology *topology, const struct iommu_check_isolation_host *host);
    void (*destroy)(void *system);
    int32_t (*bind)(void *system, uint32_t device, uint32_t driver);
    int32_t (*claim)(void *system, uint32_t context, uint32_t group);
    int32_t (*release)(void *system, uint32_t context, uint32_t group);
    int32_t (*attach)(void *system, uint32_t context, uint32_t group, uint32_t domain);
    int32_t (*detach)(void *system, uint32_t context, uint32_t group);
    int32_t (*attach_pasid)(void *system, uint32_t context, uint32_t device, uint32_t pasid, uint32_t domain);
    int32_t (*detach_pasid)(void *system, uint32_t context, uint32_t device, uint32_t pasid);
    /* pasid 0 means untagged. Returns an iommu_check_dma_result. */
    int32_t (*dma)(void *system, uint32_t device, uint32_t pasid, uint64_t iova, uint32_t access, uint32_t *domain, uint64_t *phys);
    /* The owning context of group, or -1 while the kernel owns it. */
    int64_t (*owner)(void *system, uint32_t group);
    /* The device API: claim a device (VFIO_DEVICE_BIND_IOMMUFD), give it back (close), attach
     * it to a domain (VFIO_DEVICE_ATTACH_IOMMUFD_PT; an attached device moves its whole
     * group) and detach it. */
    int32_t (*claim_device)(void *system, uint32_t context, uint32_t device);
    int32_t (*release_device)(void *system, uint32_t context, uint32_t device);
    int32_t (*attach_device)(void *system, uint32_t context, uint32_t device, uint32_t domain);
    int32_t (*detach_device)(void *system, uint32_t context, uint32_t device);
};

/* ------------------------------------------------------------------------------------------
 * Shadow: keep the host IOMMU in step with a guest I/O page table (docs/SEMANTICS.md,
 * "Shadow"). The plug-in reads the guest table and programs the host through callbacks.
 * ------------------------------------------------------------------------------------------ */

enum iommu_check_invalidation {
    IOMMU_CHECK_INVALIDATE_PAGE_SELECTIVE = 0, /* domain, iova, order: 2^order pages */
    IOMMU_CHECK_INVALIDATE_DOMAIN = 1,         /* domain */
    IOMMU_CHECK_INVALIDATE_GLOBAL = 2,
    IOMMU_CHECK_INVALIDATE_CONTEXT = 3         /* domain */
};

/* A present guest leaf: size (4 KiB, 2 MiB or 1 GiB) bytes at iova, to guest-physical gpa. */
struct iommu_check_guest_leaf {
    uint64_t iova;
    uint64_t size;
    uint64_t gpa;
    uint64_t host_phys;   /* where gpa lives on the host; 0: not guest RAM (MMIO, a hole), or
                           * the leaf straddles two RAM regions: nothing to shadow */
    uint32_t permissions;
    uint32_t reserved;
};

/* The layer's contract (docs/SEMANTICS.md, "Shadow", and `iommu-check explain --surface shadow`). */
enum iommu_check_shadow_window {
    IOMMU_CHECK_WINDOW_NONE = 0,     /* a page that changes translation is never absent: replace */
    IOMMU_CHECK_WINDOW_CHANGED = 1,  /* it may be absent between its unmap and map */
    IOMMU_CHECK_WINDOW_RESHAPED = 2  /* also a page whose host mapping is not its guest leaf (QEMU) */
};
enum iommu_check_shadow_locality {
    IOMMU_CHECK_LOCALITY_RANGE = 0,  /* host calls inside the invalidated range */
    IOMMU_CHECK_LOCALITY_LEAVES = 1  /* widened to the guest leaves and host mappings it touches */
};
/* The host the layer programs. Only PAGE_TABLE can unmap part of a mapping or replace. */
enum iommu_check_shadow_host_kind {
    IOMMU_CHECK_HOST_PAGE_TABLE = 0,
    IOMMU_CHECK_HOST_VTD = 1,        /* maps stored as leaves; an unmap removes every leaf it touches */
    IOMMU_CHECK_HOST_VFIO_TYPE1 = 2, /* a bisecting unmap fails (BISECTS_MAPPING); a mapping limit */
    IOMMU_CHECK_HOST_IOMMUFD = 3     /* an unmap stops at the first mapping it covers in part */
};
/* What invalidate returns. */
enum iommu_check_shadow_result {
    IOMMU_CHECK_SHADOW_DONE = 0,
    IOMMU_CHECK_SHADOW_INSUFFICIENT_RESOURCES = 1 /* a host map failed with MAPPING_LIMIT: stop */
};

struct iommu_check_shadow_config {
    uint32_t domain_count;
    uint32_t address_width;
    uint32_t window;         /* enum iommu_check_shadow_window */
    uint32_t locality;       /* enum iommu_check_shadow_locality */
    uint32_t host;           /* enum iommu_check_shadow_host_kind */
    uint32_t reserved;
    uint64_t mapping_limit;  /* most host mappings at once; UINT64_MAX: none */
};

struct iommu_check_shadow_host {
    void *context;
    /* The guest's present leaves of domain overlapping [first, last], in IOVA order (at most
     * capacity written; returns the count, call again with more room if it is larger). Each
     * leaf carries its host-physical address. */
    size_t (*guest_leaves)(void *context, uint32_t domain, uint64_t first, uint64_t last, struct iommu_check_guest_leaf *out, size_t capacity);
    /* The host-physical address of guest-physical gpa; 0 if gpa is not guest RAM. */
    uint64_t (*guest_to_host)(void *context, uint64_t gpa);
    /* Host IOMMU calls; each returns an iommu_check_as_status under the host's rules
     * (config->host): a VFIO host answers BISECTS_MAPPING to an unmap that starts or ends
     * inside a mapping, MAPPING_LIMIT at the limit; replace is NOT_SUPPORTED but on PAGE_TABLE. */
    int32_t (*map)(void *context, uint32_t domain, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions);
    int32_t (*unmap)(void *context, uint32_t domain, uint64_t iova, uint64_t length);
    int32_t (*replace)(void *context, uint32_t domain, uint64_t iova, uint64_t length, const struct iommu_check_extent *extents, size_t count);
    void (*notify_unmap)(void *context, uint32_t domain, uint64_t iova, uint64_t length);
};

struct iommu_check_shadow_ops {
    void *(*create)(const struct iommu_check_shadow_config *config, const struct iommu_check_shadow_host *host);
    void (*destroy)(void *layer);
    /* kind: enum iommu_check_invalidation. domain, iova and order apply where the kind has them.
     * Returns an iommu_check_shadow_result. */
    int32_t (*invalidate)(void *layer, uint32_t kind, uint32_t domain, uint64_t iova, uint32_t order);
};

/* ------------------------------------------------------------------------------------------
 * Interrupts: MSI-X virtualization over a VFIO-like host (docs/SEMANTICS.md, "Interrupts").
 * ------------------------------------------------------------------------------------------ */

struct iommu_check_interrupt_config {
    uint32_t vectors;            /* MSI-X table size, 1 ... 64 */
    uint32_t dynamic_allocation; /* 1: the host can grow an enabled index */
    uint32_t default_pasid;
    uint32_t disabled_raises;    /* 0: a raise while MSI-X is disabled pends (emulated device);
                                  * 1: there is none (pass-through). See `iommu-check explain`. */
};

struct iommu_check_interrupt_host {
    void *context;
    /* Allocate host vectors 0 ... count - 1 on a disabled index; 0 on success, nonzero if the
     * index is enabled or count is out of range. */
    int32_t (*enable)(void *context, uint32_t count);
    /* Free every host vector (SET_IRQS with count 0, vfio_msi_disable): raises are latched
     * from now on until vectors exist again. */
    void (*disable)(void *context);
    /* Grow an enabled index to count vectors without touching the others; nonzero without
     * dynamic allocation. */
    int32_t (*grow)(void *context, uint32_t count);
    /* The number of host vectors allocated now. */
    uint32_t (*allocated)(void *context);
    /* Give an allocated vector a new trigger (SET_IRQS on one vector with a new eventfd, as
     * QEMU does on each mask and unmask to reroute it); no other effect: it stays allocated. */
    void (*set_trigger)(void *context, uint32_t vector);
    /* The PASID an IMS entry accepts; has_pasid 0 means the default PASID. */
    void (*set_pasid)(void *context, uint32_t vector, uint32_t has_pasid, uint32_t pasid);
    /* Bit v set: raises on vector v were latched while it had no host vector. */
    uint64_t (*latched_bits)(void *context);
    /* Reads and clears vector's latched bit: 1 if raises arrived while it had no host vector
     * (several are one, as a pending bit holds them), else 0. */
    uint32_t (*take_latched)(void *context, uint32_t vector);
    /* Injects an interrupt into the guest. */
    void (*deliver)(void *context, uint32_t vector, uint64_t address, uint32_t data);
};

struct iommu_check_interrupt_ops {
    void *(*create)(const struct iommu_check_interrupt_config *config, const struct iommu_check_interrupt_host *host);
    void (*destroy)(void *vmm);
    void (*set_enabled)(void *vmm, uint32_t enabled);
    void (*set_function_mask)(void *vmm, uint32_t masked);
    void (*write_entry)(void *vmm, uint32_t vector, uint64_t address, uint32_t data);
    void (*set_vector_mask)(void *vmm, uint32_t vector, uint32_t masked);
    void (*set_pasid)(void *vmm, uint32_t vector, uint32_t has_pasid, uint32_t pasid);
    uint64_t (*pending_bits)(void *vmm);
    /* Host vector `vector` fired. May be called from inside any of the functions above. */
    void (*host_triggered)(void *vmm, uint32_t vector);
};

/* ------------------------------------------------------------------------------------------
 * Protected DMA (revision 3): the DMA layer of a protected guest (s390 protected virtualization,
 * AMD SEV, Intel TDX): dma-direct with every streaming mapping bounced through a swiotlb pool,
 * coherent memory shared with the host (docs/SEMANTICS.md, "Protected DMA").
 *
 * The checker owns the guest's memory. The layer reaches it only through the callbacks of
 * struct iommu_check_guest_memory, and every callback is judged: the layer may read the driver's
 * buffers (private memory) only inside the buffer it is mapping or syncing for the device, may
 * write them only inside the buffer it is unmapping or syncing for the CPU, and may share only
 * pages of the coherent area. The device reaches only shared memory: the pool (shared from
 * boot, zeroed) and the coherent pages the layer shared.
 *
 * Other CPUs run beside the layer: from inside a memory callback the checker may call map on
 * the same handle (another CPU mapping a buffer), as swiotlb holds its lock only while it
 * searches and releases slots. The layer's state must be consistent at every callback.
 * ------------------------------------------------------------------------------------------ */

/* Directions, with Linux's values (enum dma_data_direction). */
#define IOMMU_CHECK_DMA_BIDIRECTIONAL 0u
#define IOMMU_CHECK_DMA_TO_DEVICE 1u
#define IOMMU_CHECK_DMA_FROM_DEVICE 2u

/* What map returns when it cannot map (DMA_MAPPING_ERROR, ~(dma_addr_t)0). */
#define IOMMU_CHECK_DMA_MAPPING_ERROR UINT64_MAX

/* IO_TLB_SIZE: a slot of the pool. */
#define IOMMU_CHECK_SLOT_SIZE 2048u

enum iommu_check_virtio {
    IOMMU_CHECK_VIRTIO_NONE = 0,               /* no virtio device */
    IOMMU_CHECK_VIRTIO_ACCESS_PLATFORM = 1,    /* offers VIRTIO_F_ACCESS_PLATFORM */
    IOMMU_CHECK_VIRTIO_NO_ACCESS_PLATFORM = 2, /* does not: a protected guest must refuse it */
};

struct iommu_check_protected_dma_config {
    uint64_t buffer_base;     /* the driver's memory: private, never to be shared */
    uint64_t buffer_bytes;
    uint64_t coherent_base;   /* whole pages the layer allocates coherent memory from; */
    uint64_t coherent_bytes;  /*   private until the layer shares them */
    uint64_t pool_base;       /* the swiotlb pool: pool_slots slots of IOMMU_CHECK_SLOT_SIZE */
    uint32_t pool_slots;
    uint32_t segment_slots;   /* IO_TLB_SEGSIZE: a bounce buffer lies inside one segment */
    uint64_t min_align_mask;  /* the device's (dma_set_min_align_mask): 0 or 2^k - 1 */
    uint32_t virtio;          /* enum iommu_check_virtio */
    uint32_t reserved;        /* zero */
};

struct iommu_check_guest_memory {
    void *context;
    /* memcpy out of and into guest-physical memory. */
    void (*read)(void *context, uint64_t address, void *out, size_t count);
    void (*write)(void *context, uint64_t address, const void *data, size_t count);
    /* memcpy and memset within guest-physical memory. */
    void (*copy)(void *context, uint64_t destination, uint64_t source, size_t count);
    void (*fill)(void *context, uint64_t address, uint8_t value, size_t count);
    /* set_memory_decrypted / set_memory_encrypted of whole pages: 0 on success. */
    int32_t (*share)(void *context, uint64_t address, uint64_t pages);
    int32_t (*unshare)(void *context, uint64_t address, uint64_t pages);
};

struct iommu_check_protected_dma_ops {
    void *(*create)(const struct iommu_check_protected_dma_config *config, const struct iommu_check_guest_memory *memory);
    void (*destroy)(void *layer);
    /* dma_map_single of size bytes at guest-physical address (inside the driver's memory), for
     * direction: the DMA address, or IOMMU_CHECK_DMA_MAPPING_ERROR. */
    uint64_t (*map)(void *layer, uint64_t address, uint64_t size, uint32_t direction);
    /* Unmap and syncs take the DMA address, size and direction of the map; a sync may cover
     * part of a mapping (dma + offset, fewer bytes). */
    void (*unmap)(void *layer, uint64_t dma, uint64_t size, uint32_t direction);
    void (*sync_for_device)(void *layer, uint64_t dma, uint64_t size, uint32_t direction);
    void (*sync_for_cpu)(void *layer, uint64_t dma, uint64_t size, uint32_t direction);
    /* dma_alloc_coherent: 0 and *cpu, *dma set, or nonzero when there is no memory. */
    int32_t (*alloc_coherent)(void *layer, uint64_t size, uint64_t *cpu, uint64_t *dma);
    void (*free_coherent)(void *layer, uint64_t cpu, uint64_t dma, uint64_t size);
    /* A vring of size bytes for the config's virtio device: 0 and *cpu, *dma set, or nonzero
     * when the device is refused (or there is no memory). */
    int32_t (*setup_virtqueue)(void *layer, uint64_t size, uint64_t *cpu, uint64_t *dma);
};

/* ------------------------------------------------------------------------------------------
 * The plug-in table.
 * ------------------------------------------------------------------------------------------ */

/* What a plug-in supports (revision 1). The checker draws only configurations inside it, so a
 * plug-in that supports one page size or one aperture is checked on what it supports. Every
 * field 0 means "anything". A create that returns NULL anyway counts as a refused configuration;
 * a run mostly refused fails its health check. */
struct iommu_check_capabilities {
    uint64_t page_sizes;         /* address space: bit k set: 2^k-byte pages are supported */
    uint64_t aperture_first;     /* address space: the one aperture supported, */
    uint64_t aperture_last;      /*   when aperture_last is not 0 */
    uint32_t reserved_regions;   /* address space: 1: only configurations without reserved regions */
    uint32_t max_domains;        /* shadow: at most this many domains */
    uint64_t address_widths;     /* shadow: bit w set: a w-bit IOVA space is supported */
    uint32_t max_vectors;        /* interrupts: at most this many vectors (1 ... 64) */
    uint32_t dynamic_allocation; /* interrupts: 1: only hosts without it; 2: only hosts with it */
    /* Revision 2: what the implementation cannot show, IOMMU_CHECK_UNOBSERVABLE_* bits. */
    uint32_t unobservable;
    uint32_t padding;            /* zero */
};

/* Address space: there is no way to list the mappings (VFIO type1 has no such ioctl). The
 * checker then never calls mappings and compares translations only: after every change at its
 * edges, and at the end of a case at the first and last page of every mapping the model holds. */
#define IOMMU_CHECK_UNOBSERVABLE_MAPPINGS 1u
/* Address space: translate sees that an access faulted but not why (a real device's DMA). Any
 * fault then agrees with any fault the model expects. */
#define IOMMU_CHECK_UNOBSERVABLE_FAULT_REASONS 2u

struct iommu_check_plugin {
    uint32_t abi_version;  /* IOMMU_CHECK_ABI_VERSION */
    uint32_t abi_revision; /* IOMMU_CHECK_ABI_REVISION */
    const char *name;      /* shown in reports */
    const struct iommu_check_address_space_ops *address_space; /* NULL: not provided */
    const struct iommu_check_isolation_ops *isolation;
    const struct iommu_check_shadow_ops *shadow;
    const struct iommu_check_interrupt_ops *interrupts;
    /* Revision 1: NULL, or what the plug-in supports. Read only from plug-ins whose
     * abi_revision is 1 or later; its revision-2 fields, and the address-space table's, only
     * from revision 2 or later. */
    const struct iommu_check_capabilities *capabilities;
    /* Revision 3: NULL, or the protected-DMA layer. */
    const struct iommu_check_protected_dma_ops *protected_dma;
};

typedef const struct iommu_check_plugin *(*iommu_check_plugin_entry)(void);

/* The one symbol a plug-in exports. */
const struct iommu_check_plugin *iommu_check_plugin_v2(void);

/* ------------------------------------------------------------------------------------------
 * ABI version 1, still loaded: a library exporting iommu_check_plugin_v1 whose table says
 * abi_version 1. Its interrupt table is that of version 2. Its address space is
 * checked only under configurations version 1 can state: page sizes of 4 KiB and more, an
 * aperture 0 ... 2^width - 1, reserved regions without kinds, unmap-all without arguments, and
 * the policies vfio-type1, virtio-iommu and page-table (as partial_unmap/empty_unmap). Its
 * isolation table is refused: version 1 followed a contract Linux does not have (PASIDs per
 * device, a second claim by the same owner shared). Its shadow table is refused too: version 1
 * knew one host, a raw page table, and no way to report running out of host mappings.
 * To update: include this header, export iommu_check_plugin_v2 with abi_version 2, take
 * struct iommu_check_as_config in create, give unmap_all the iova, length and bytes arguments,
 * report bytes removed by a failing unmap; for isolation, read the policy fields of the
 * topology, add claim_device, release_device, attach_device and detach_device, attach PASIDs
 * per group, and return the new statuses; for shadow, read the window, locality, host and
 * mapping limit of the config, program the host without replace where it has none (unmap
 * whole mappings on a host that cannot split one), and return a result from invalidate
 * (docs/PLUGINS.md).
 * ------------------------------------------------------------------------------------------ */

struct iommu_check_as_config_v1 {
    uint64_t page_size;      /* a power of two, 4 KiB ... 1 GiB */
    uint32_t address_width;  /* IOVAs 0 ... 2^address_width - 1 are mappable (<= 64) */
    uint32_t partial_unmap;  /* IOMMU_CHECK_REJECT_BISECT ... IOMMU_CHECK_SPLIT */
    uint32_t empty_unmap;    /* enum iommu_check_empty_unmap */
    uint32_t reserved_count; /* number of entries in reserved */
    const struct iommu_check_range *reserved; /* never mappable */
    uint64_t mapping_limit;  /* most mappings at once */
};

struct iommu_check_address_space_ops_v1 {
    void *(*create)(const struct iommu_check_as_config_v1 *config);
    void (*destroy)(void *space);
    int32_t (*map)(void *space, uint64_t iova, uint64_t length, uint64_t phys, uint32_t permissions);
    int32_t (*unmap)(void *space, uint64_t iova, uint64_t length, uint64_t *bytes);
    uint64_t (*unmap_all)(void *space);
    int32_t (*translate)(void *space, uint64_t iova, uint32_t access, uint64_t *phys);
    size_t (*mappings)(void *space, uint64_t first, uint64_t last, struct iommu_check_extent *out, size_t capacity);
};

/* Version 1's isolation and shadow tables: refused (see above); named so the table can be read. */
struct iommu_check_isolation_ops_v1;
struct iommu_check_shadow_ops_v1;

struct iommu_check_plugin_v1 {
    uint32_t abi_version; /* 1 */
    uint32_t reserved;
    const char *name;
    const struct iommu_check_address_space_ops_v1 *address_space;
    const struct iommu_check_isolation_ops_v1 *isolation;
    const struct iommu_check_shadow_ops_v1 *shadow;
    const struct iommu_check_interrupt_ops *interrupts;
};

typedef const struct iommu_check_plugin_v1 *(*iommu_check_plugin_entry_v1)(void);

#ifdef __cplusplus
}
#endif

#endif /* IOMMU_CHECK_H */
