/* The ram section of a QEMU migration stream (migration/ram.c): its
 * records up to each EOS, page data skipped by length, never read; in the
 * mapped-ram layout, each block's MappedRamHeader and the seek over its
 * bitmap and pages.  Part of the walker (qemu-walk.h). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "error.h"
#include "io.h"
#include "qemu-walk.h"

/* --- ram ---------------------------------------------------------------- */

/* mapped-ram (migration/ram.c, docs/devel/migration/mapped-ram.rst): the
 * block's MappedRamHeader, then a seek: its dirty bitmap and pages sit at
 * the file offsets the header gives (absolute, even behind a libvirt
 * header), and the stream goes on at pages_offset + the block's length.
 * The pages are never read. */
static int
mapped_ram_block(struct walk *w, const struct ram_block *b)
{
	struct reader *r = &w->r;
	uint64_t at = r->off, page, bitmap, pages, bits;
	uint32_t version;

	if (vs_qf_be32(r, &version, "a MappedRamHeader") < 0 || vs_qf_be64(r, &page, "a MappedRamHeader") < 0 ||
	    vs_qf_be64(r, &bitmap, "a MappedRamHeader") < 0 || vs_qf_be64(r, &pages, "a MappedRamHeader") < 0)
		return -1;
	if (version != MAPPED_RAM_HDR_VERSION)
		return vs_qf_bad(r, at, "MappedRamHeader version %" PRIu32 " of RAM block '%s' (expected %d)", version, b->name,
			   MAPPED_RAM_HDR_VERSION);
	if (page < 512 || page > (1 << 20) || (page & (page - 1)) || (w->q->page_size && page != w->q->page_size))
		return vs_qf_bad(r, at, "RAM block '%s' has page size %" PRIu64 " (expected %" PRIu64 ")", b->name, page,
			   w->q->page_size);
	w->q->page_size = page;
	if (b->length % page)
		return vs_qf_bad(r, at, "RAM block '%s' is %" PRIu64 " bytes, not a whole number of %" PRIu64 "-byte pages",
			   b->name, b->length, page);
	bits = (b->length / page + 7) / 8;
	if (bitmap < r->off || bitmap > r->end || pages < bitmap || pages - bitmap < bits || pages > r->end ||
	    b->length > r->end - pages)
		return vs_qf_bad(r, at,
			   "RAM block '%s' (%" PRIu64 " bytes) has its bitmap at %" PRIu64 " and its pages at %" PRIu64
			   ", which do not fit between the header and %s (offset %" PRIu64 ")",
			   b->name, b->length, bitmap, pages, r->limit, r->end);
	r->off = pages + b->length;
	return 0;
}

/* Most VMs name a handful of blocks: the table starts small. */
static int
grow_blocks(struct walk *w)
{
	size_t cap = w->cap_blocks ? 2 * w->cap_blocks : 8, last = w->last_block ? (size_t)(w->last_block - w->blocks) : 0;
	struct ram_block *b;

	if (cap > MAX_RAM_BLOCKS)
		cap = MAX_RAM_BLOCKS;
	b = realloc(w->blocks, cap * sizeof *b);
	if (!b)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	if (w->last_block)
		w->last_block = b + last;
	w->blocks = b;
	w->cap_blocks = cap;
	return 0;
}

static int
ram_mem_size(struct walk *w, uint64_t total)
{
	struct reader *r = &w->r;

	while (total > 0) {
		struct ram_block b;
		uint64_t at = r->off;
		if (vs_qf_name(r, b.name, "a RAM block name") < 0 || vs_qf_be64(r, &b.length, "a RAM block length") < 0)
			return -1;
		if (b.length > total)
			return vs_qf_bad(r, at,
				   "RAM block '%s' declares %" PRIu64 " bytes, but %" PRIu64
				   " are left of the total the section announced",
				   b.name, b.length, total);
		total -= b.length;
		if (w->q->ignore_shared && vs_qf_skip(r, 8, "the block address (x-ignore-shared)") < 0)
			return -1;
		if (w->q->mapped_ram && mapped_ram_block(w, &b) < 0)
			return -1;
		if (w->nblocks == MAX_RAM_BLOCKS)
			return vs_qf_bad(r, at, "more than %u RAM blocks", MAX_RAM_BLOCKS);
		if (w->nblocks == w->cap_blocks && grow_blocks(w) < 0)
			return -1;
		w->blocks[w->nblocks++] = b;
		w->q->ram_blocks++;
		w->q->ram_bytes += b.length;
	}
	return 0;
}

/* Records up to RAM_SAVE_FLAG_EOS, page data skipped, never read. */
int
vs_qf_ram_records(struct walk *w)
{
	struct reader *r = &w->r;
	uint64_t mask = w->q->page_size - 1;
	/* like the loader's static block in ram_block_from_stream(), CONTINUE
	 * refers to the last block named, even in an earlier section */
	struct ram_block *cur = w->last_block;

	for (;;) {
		uint64_t at = r->off, a, flags, addr;
		bool cont;
		if (vs_qf_be64(r, &a, "a RAM record") < 0)
			return -1;
		if (!w->q->page_size) {
			/* no description and no target-page-bits: only a mapped-ram
			 * stream says its page size, in the header that follows
			 * the first block's name; the first record must be
			 * MEM_SIZE (0x04), whose total is a multiple of pages */
			if (!w->q->mapped_ram)
				return vs_qf_no_desc(r);
			if ((a & 0x3ff) != RAM_SAVE_FLAG_MEM_SIZE)
				return vs_qf_bad(r, at, "the ram section does not start with RAM_SAVE_FLAG_MEM_SIZE");
			if (ram_mem_size(w, a & ~(uint64_t)0x3ff) < 0)
				return -1;
			if (!w->q->page_size)
				return vs_qf_bad(r, at, "a mapped-ram stream whose ram section announces no RAM block");
			mask = w->q->page_size - 1;
			continue;
		}
		flags = a & mask;
		addr = a & ~mask;
		cont = flags & RAM_SAVE_FLAG_CONTINUE;
		flags &= ~(uint64_t)RAM_SAVE_FLAG_CONTINUE;
		switch (flags) {
		case RAM_SAVE_FLAG_MEM_SIZE:
			if (cont)
				return vs_qf_bad(r, at, "RAM_SAVE_FLAG_MEM_SIZE with RAM_SAVE_FLAG_CONTINUE");
			if (ram_mem_size(w, addr) < 0)
				return -1;
			/* a second MEM_SIZE may have moved the block table
			 * (grow_blocks keeps last_block, not this copy) */
			cur = w->last_block;
			break;
		case RAM_SAVE_FLAG_ZERO:
		case RAM_SAVE_FLAG_PAGE:
		case RAM_SAVE_FLAG_XBZRLE:
			if (w->q->mapped_ram)
				return vs_qf_bad(r, at, "a page record in the stream of a mapped-ram file (its pages sit at fixed offsets)");
			if (!cont) {
				char name[256];
				cur = NULL;
				if (vs_qf_name(r, name, "a RAM block name") < 0)
					return -1;
				for (size_t i = 0; i < w->nblocks && !cur; i++)
					if (strcmp(w->blocks[i].name, name) == 0)
						cur = &w->blocks[i];
				if (!cur)
					return vs_qf_bad(r, at, "a page of RAM block '%s', which the section did not announce", name);
			} else if (!cur) {
				return vs_qf_bad(r, at, "a page continues the previous RAM block, but none was named");
			}
			w->last_block = cur;
			if (addr >= cur->length)
				return vs_qf_bad(r, at, "page address 0x%" PRIx64 " is outside RAM block '%s' (%" PRIu64 " bytes)",
					   addr, cur->name, cur->length);
			if (flags == RAM_SAVE_FLAG_ZERO) {
				if (vs_qf_skip(r, 1, "a zero page's fill byte") < 0)
					return -1;
				w->q->ram_zero_pages++;
			} else if (flags == RAM_SAVE_FLAG_PAGE) {
				if (vs_qf_skip(r, w->q->page_size, "a RAM page") < 0)
					return -1;
				w->q->ram_pages++;
			} else {
				uint8_t enc;
				uint16_t len;
				if (vs_qf_u8(r, &enc, "an XBZRLE page header") < 0 ||
				    vs_qf_be16(r, &len, "an XBZRLE page header") < 0)
					return -1;
				if (enc != ENCODING_FLAG_XBZRLE || len > w->q->page_size)
					return vs_qf_bad(r, at, "an XBZRLE page with encoding 0x%02x and length %u", enc, len);
				if (vs_qf_skip(r, len, "an XBZRLE page") < 0)
					return -1;
				w->q->ram_xbzrle_pages++;
			}
			break;
		case RAM_SAVE_FLAG_EOS:
			return 0;
		case RAM_SAVE_FLAG_MULTIFD_FLUSH:
			break;
		case RAM_SAVE_FLAG_HOOK:
			return vs_qf_bad(r, at, "an RDMA hook record (RAM_SAVE_FLAG_HOOK): not a file migration");
		default:
			return vs_qf_bad(r, at,
				   "a RAM record with flags 0x%" PRIx64
				   " (expected one of ZERO 0x02, MEM_SIZE 0x04, PAGE 0x08, EOS 0x10, XBZRLE 0x40, "
				   "MULTIFD_FLUSH 0x200, optionally with CONTINUE 0x20)",
				   flags | (cont ? RAM_SAVE_FLAG_CONTINUE : 0));
		}
	}
}
