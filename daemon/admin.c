/* admin.c -- rblctl's commands: add, del, list, check, stats, reload, flush.
 *
 * Each command writes its body in the requested format, text for people
 * or one JSON document for scripts, through the ctl_out of control.c.
 * Errors are one line, as rblctl prints them.  "check" runs the zone's
 * real query path (query_answer) for the address, waiting on a private
 * mailbox for the lookups the cache cannot answer, so what it reports is
 * what a mail server would get.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <ev.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "dns.h"
#include "journal.h"
#include "lists.h"
#include "log.h"
#include "policy.h"
#include "qname.h"
#include "query.h"
#include "rcache.h"
#include "server.h"
#include "share.h"
#include "stats.h"
#include "upstream.h"

/* ---- output helpers ---- */

static const char *
iso_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static const char *
cidr_text(const struct cidr *c, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	addr_ntop(&c->ip, ip, sizeof(ip));
	snprintf(buf, size, "%s/%d", ip, c->len);
	return buf;
}

static int
list_index(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->nlists; i++)
		if (strcasecmp(cfg->lists[i].name, name) == 0)
			return i;
	return -1;
}

static int
unknown_list(const struct config *cfg, const char *name, struct ctl_out *o)
{
	char names[512];
	size_t n = 0;
	names[0] = '\0';
	for (int i = 0; i < cfg->nlists && n < sizeof(names) - 70; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
		    i ? ", " : "", cfg->lists[i].name);
	ctl_out_error(o, "unknown list \"%s\"; lists: %s", name,
	    cfg->nlists ? names : "none configured");
	return -1;
}

/* ---- add, del ---- */

static int
cmd_add(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	const struct config *cfg = *ad->cfg;
	int li = list_index(cfg, req->argv[0]);
	if (li < 0)
		return unknown_list(cfg, req->argv[0], o);
	if (!*ad->journal) {
		ctl_out_error(o, "run-time entries unavailable: %s", ad->journal_err);
		return -1;
	}
	if (strlen(cfg->lists[li].name) >= JOURNAL_LIST_MAX) {
		ctl_out_error(o, "list name \"%s\" too long for run-time entries "
		    "(at most %d bytes)", cfg->lists[li].name, JOURNAL_LIST_MAX - 1);
		return -1;
	}
	struct journal_entry e;
	memset(&e, 0, sizeof(e));
	snprintf(e.list, sizeof(e.list), "%s", cfg->lists[li].name);
	e.net = req->cidr;
	e.added = clock_wall();
	e.expires = req->for_secs ? e.added + req->for_secs : 0;
	snprintf(e.origin, sizeof(e.origin), "%s", ad->origin);
	if (req->opt_reason) {
		/* it becomes the TXT: one character-string, which list TXT
		 * expansion keeps to 254 bytes (as rbldnsd) */
		if (strlen(req->opt_reason) > 254) {
			ctl_out_error(o, "reason too long (at most 254 bytes)");
			return -1;
		}
		snprintf(e.reason, sizeof(e.reason), "%s", req->opt_reason);
	}
	char err[256], net[64], t[32];
	if (journal_add(*ad->journal, &e, err, sizeof(err)) < 0) {
		ctl_out_error(o, "not added: %s", err);
		return -1;
	}
	ad->republish();
	share_edit(*ad->share, 0, &e, e.added * 1000);
	cidr_text(&e.net, net, sizeof(net));
	log_info("list \"%s\": %s added by rblctl%s%s%s%s", e.list, net,
	    e.expires ? " until " : "", e.expires ? iso_time(e.expires, t,
	    sizeof(t)) : "", e.reason[0] ? ": " : "", e.reason);
	if (req->json) {
		ctl_out_printf(o, "{\"list\":");
		ctl_out_json_string(o, e.list);
		ctl_out_printf(o, ",\"cidr\":\"%s\",\"added\":%" PRId64
		    ",\"expires\":%" PRId64 "}\n", net, e.added, e.expires);
	} else
		ctl_out_printf(o, "added %s to %s%s%s\n", net, e.list,
		    e.expires ? ", expires " : "", e.expires ? iso_time(e.expires,
		    t, sizeof(t)) : "");
	return 0;
}

static int
cmd_del(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	const struct config *cfg = *ad->cfg;
	int li = list_index(cfg, req->argv[0]);
	char err[256], net[64];
	if (li < 0)
		return unknown_list(cfg, req->argv[0], o);
	if (!*ad->journal) {
		ctl_out_error(o, "run-time entries unavailable: %s", ad->journal_err);
		return -1;
	}
	cidr_text(&req->cidr, net, sizeof(net));
	int r = journal_del(*ad->journal, cfg->lists[li].name, &req->cidr, err,
	    sizeof(err));
	if (r < 0) {
		ctl_out_error(o, "not deleted: %s", err);
		return -1;
	}
	if (r == 1) {
		ctl_out_error(o, "no run-time entry %s in %s (entries from %s "
		    "are changed by editing that file)", net, cfg->lists[li].name,
		    cfg->lists[li].file);
		return -1;
	}
	ad->republish();
	struct journal_entry gone;
	memset(&gone, 0, sizeof(gone));
	snprintf(gone.list, sizeof(gone.list), "%s", cfg->lists[li].name);
	gone.net = req->cidr;
	share_edit(*ad->share, 1, &gone, clock_wall() * 1000);
	log_info("list \"%s\": %s deleted by rblctl", cfg->lists[li].name, net);
	if (req->json) {
		ctl_out_printf(o, "{\"list\":");
		ctl_out_json_string(o, cfg->lists[li].name);
		ctl_out_printf(o, ",\"cidr\":\"%s\",\"deleted\":true}\n", net);
	} else
		ctl_out_printf(o, "deleted %s from %s\n", net, cfg->lists[li].name);
	return 0;
}

/* ---- list ---- */

/* The entry lines of a list file: not blank, not a comment, not a "$"
 * directive or a ":value" default line. */
static int
file_entry_line(char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
	    line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	if (s != line)
		memmove(line, s, strlen(s) + 1);
	return line[0] && line[0] != '#' && line[0] != ';' && line[0] != '$' &&
	    !(line[0] == ':' && line[1] != ':');
}

static int
cmd_list(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	const struct config *cfg = *ad->cfg;
	int li = list_index(cfg, req->argv[0]);
	if (li < 0)
		return unknown_list(cfg, req->argv[0], o);
	const struct config_list *cl = &cfg->lists[li];
	const struct journal_entry *e = NULL;
	size_t n = *ad->journal ? journal_entries(*ad->journal, clock_wall(),
	    &e) : 0;
	int first = 1;

	if (req->json) {
		ctl_out_printf(o, "{\"list\":");
		ctl_out_json_string(o, cl->name);
		ctl_out_printf(o, ",\"file\":");
		ctl_out_json_string(o, cl->file);
		ctl_out_printf(o, ",\"entries\":[");
	} else
		ctl_out_printf(o, "# list \"%s\": file %s, then run-time entries\n",
		    cl->name, cl->file);
	FILE *f = fopen(cl->file, "r");
	if (f) {
		char line[8192];
		int lineno = 0;
		while (fgets(line, sizeof(line), f)) {
			lineno++;
			if (!file_entry_line(line))
				continue;
			if (req->json) {
				ctl_out_printf(o, "%s\n{\"origin\":\"file\",\"line\":%d,"
				    "\"text\":", first ? "" : ",", lineno);
				ctl_out_json_string(o, line);
				ctl_out_printf(o, "}");
			} else
				ctl_out_printf(o, "%s\tfile %s:%d\n", line, cl->file,
				    lineno);
			first = 0;
		}
		fclose(f);
	} else if (!req->json)
		ctl_out_printf(o, "# %s: cannot read it now\n", cl->file);
	for (size_t k = 0; k < n; k++) {
		if (strcmp(e[k].list, cl->name) != 0)
			continue;
		char net[64], t1[32], t2[32];
		cidr_text(&e[k].net, net, sizeof(net));
		if (req->json) {
			ctl_out_printf(o, "%s\n{\"origin\":\"rblctl\",\"cidr\":\"%s\","
			    "\"added\":%" PRId64 ",\"expires\":%" PRId64 ",\"by\":",
			    first ? "" : ",", net, e[k].added, e[k].expires);
			ctl_out_json_string(o, e[k].origin);
			ctl_out_printf(o, ",\"reason\":");
			ctl_out_json_string(o, e[k].reason);
			ctl_out_printf(o, "}");
		} else
			ctl_out_printf(o, "%s\trblctl by %s, added %s, %s%s%s%s\n", net,
			    e[k].origin, iso_time(e[k].added, t1, sizeof(t1)),
			    e[k].expires ? "expires " : "never expires",
			    e[k].expires ? iso_time(e[k].expires, t2, sizeof(t2)) : "",
			    e[k].reason[0] ? ": " : "", e[k].reason);
		first = 0;
	}
	if (req->json)
		ctl_out_printf(o, "\n]}\n");
	return 0;
}

/* ---- check ---- */

/* Where check's upstream replies land.  It lives as long as the
 * process (the upstream thread may answer a lookup check gave up on,
 * any time later), with a private loop that only runs while a check
 * waits; replies of an earlier check are told apart by their cookie. */
static struct waitbox {
	int ready;
	struct ev_loop *loop;
	struct upstream_mailbox mb;
	ev_async wake;
	ev_timer timer;
	struct query_upstream *up;
	uintptr_t seq;
	int left;
} wb;

static void
check_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)a;
	(void)revents;
	struct upstream_reply *r = upstream_mailbox_take(&wb.mb);
	while (r) {
		struct upstream_reply *next = r->next;
		if ((uintptr_t)r->cookie == wb.seq && wb.up &&
		    r->gen < (uint32_t)wb.up->n &&
		    wb.up->l[r->gen].state == QL_PENDING) {
			wb.up->l[r->gen].state = QL_DONE;
			wb.up->l[r->gen].r = r->r;
			wb.left--;
		}
		free(r);
		r = next;
	}
	if (wb.left <= 0)
		ev_break(loop, EVBREAK_ALL);
}

static void
check_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Asks upstream for the pending lookups of up and waits for them, at
 * most their timeout; what does not come counts as timed out. */
static void
lookup_wait(struct admin *ad, const struct snapshot *s,
    struct query_upstream *up)
{
	if (!wb.ready) {
		if (!(wb.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK)))
			return;
		pthread_mutex_init(&wb.mb.mu, NULL);
		wb.mb.loop = wb.loop;
		wb.mb.wake = &wb.wake;
		ev_async_init(&wb.wake, check_wake_cb);
		ev_async_start(wb.loop, &wb.wake);
		ev_init(&wb.timer, check_timeout_cb);
		wb.ready = 1;
	}
	wb.seq++;
	wb.up = up;
	wb.left = 0;
	int tmo = 0;
	for (int i = 0; i < up->n; i++) {
		struct query_lookup *l = &up->l[i];
		if (l->state != QL_PENDING)
			continue;
		struct upstream_ask a = { l->qname, l->qtype,
		    l->cacheable ? &l->key : NULL,
		    s->cfg->upstreams[l->upstream].name, 0,
		    s->cfg->upstreams[l->upstream].stats_id };
		if (upstream_request(ad->up, &a, &wb.mb, (void *)wb.seq,
		    (uint32_t)i) == 0)
			wb.left++;
		if (l->timeout_ms > tmo)
			tmo = l->timeout_ms;
	}
	ev_timer_set(&wb.timer, tmo / 1000.0 + 0.05, 0.);
	ev_timer_start(wb.loop, &wb.timer);
	if (wb.left > 0)
		ev_run(wb.loop, 0);
	ev_timer_stop(wb.loop, &wb.timer);
	wb.up = NULL;
	for (int i = 0; i < up->n; i++)
		if (up->l[i].state == QL_PENDING)
			up->l[i].state = QL_TIMEOUT;
}

/* One query through the real path; returns the answer's length. */
static size_t
ask(struct admin *ad, const struct snapshot *s, const char *name,
    uint16_t qtype, uint8_t *out, struct query_upstream *up)
{
	uint8_t pkt[512];
	uint8_t hdr[12] = { 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(pkt, hdr, 12);
	int wl = config_name_to_wire(name, pkt + 12, sizeof(pkt) - 16);
	if (wl < 0)
		return 0;
	size_t len = 12 + (size_t)wl;
	pkt[len++] = (uint8_t)(qtype >> 8);
	pkt[len++] = (uint8_t)qtype;
	pkt[len++] = 0;
	pkt[len++] = 1;
	struct ipaddr client;
	/* a client allow-query admits: this is the daemon asking itself */
	client = s->cfg->nallow ? s->cfg->allow[0].ip : (struct ipaddr){ 0 };
	struct query_stats st;
	memset(&st, 0, sizeof(st));
	memset(up, 0, sizeof(*up));
	up->phase = QUERY_ASK;
	size_t n = query_answer(s, pkt, len, &client, 0, out, &st,
	    ad->up ? up : NULL);
	/* refreshes the cache asked for are owed, as by a worker */
	for (int i = 0; ad->up && i < up->n && up->nprefetch > 0; i++)
		if (up->l[i].prefetch) {
			const struct query_lookup *l = &up->l[i];
			struct upstream_ask a = { l->qname, l->qtype, &l->key,
			    s->cfg->upstreams[l->upstream].name, 1,
			    s->cfg->upstreams[l->upstream].stats_id };
			upstream_request(ad->up, &a, NULL, NULL, 0);
		}
	if (n == 0 && up->n > 0) {
		lookup_wait(ad, s, up);
		up->phase = QUERY_ANSWER;
		n = query_answer(s, pkt, len, &client, 0, out, &st, up);
	}
	return n;
}

/* Reads the rcode and the A and TXT records of an answer. */
static int
read_answer(const uint8_t *m, size_t len, uint32_t *a, int *na, char *txt,
    size_t txtsize)
{
	*na = 0;
	txt[0] = '\0';
	if (len < 12)
		return -1;
	int rcode = m[3] & 15;
	int an = dns_get16(m + 6);
	size_t p = dns_skip_name(m, len, 12), tl = 0;
	if (p == 0)
		return rcode;
	p += 4;
	for (int i = 0; i < an; i++) {
		if (!(p = dns_skip_name(m, len, p)) || p + 10 > len)
			break;
		int type = dns_get16(m + p);
		size_t rdlen = dns_get16(m + p + 8);
		p += 10;
		if (p + rdlen > len)
			break;
		if (type == DNS_T_A && rdlen == 4 && *na < 8)
			a[(*na)++] = dns_get32(m + p);
		else if (type == DNS_T_TXT)
			for (size_t q = p; q < p + rdlen; q += 1 + (size_t)m[q]) {
				size_t k = m[q];
				if (q + 1 + k > p + rdlen || tl + k + 4 >= txtsize)
					break;
				if (tl && q == p)
					txt[tl++] = ' ', txt[tl++] = '|', txt[tl++] = ' ';
				memcpy(txt + tl, m + q + 1, k);
				tl += k;
				txt[tl] = '\0';
			}
		p += rdlen;
	}
	return rcode;
}

static const char *
a_text(uint32_t a, char *buf, size_t size)
{
	snprintf(buf, size, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
	    (a >> 8) & 255, a & 255);
	return buf;
}

/* The run-time entry of list that covers ip most specifically. */
static const struct journal_entry *
dyn_entry(struct admin *ad, const char *list, const struct ipaddr *ip)
{
	const struct journal_entry *e, *best = NULL;
	if (!*ad->journal)
		return NULL;
	size_t n = journal_entries(*ad->journal, clock_wall(), &e);
	for (size_t k = 0; k < n; k++)
		if (strcmp(e[k].list, list) == 0 &&
		    addr_cidr_contains(&e[k].net, ip) &&
		    (!best || e[k].net.len > best->net.len))
			best = &e[k];
	return best;
}

/* One zone's verdict for ip and each source's part in it. */
static void
check_zone(struct admin *ad, const struct snapshot *s,
    const struct config_zone *z, const struct ipaddr *ip, int json,
    struct ctl_out *o)
{
	char rev[80], name[400], buf[64];
	static struct query_upstream up;	/* main thread only; 10 KB */
	uint8_t out[4096];
	uint32_t a[8];
	int na;
	char txt[1100];

	qname_format_ip(ip, rev, sizeof(rev));
	snprintf(name, sizeof(name), "%s.%s", rev, z->name);
	/* TXT first: it plans every lookup and explains; then what an
	 * smtpd's reject_rbl_client asks, A */
	size_t n = ask(ad, s, name, DNS_T_TXT, out, &up);
	read_answer(out, n, a, &na, txt, sizeof(txt));
	struct verdict v;
	struct policy_answer ans[POLICY_MAX_SOURCES];
	memset(ans, 0, sizeof(ans));
	policy_eval(z->src, z->nsrc, z->threshold, s->lists, s->dyn, ip, &v);
	for (int k = 0; k < up.n; k++) {
		struct query_lookup *l = &up.l[k];
		if (l->qtype != DNS_T_A || l->state != QL_DONE ||
		    l->r.status != UPS_ANSWER)
			continue;
		for (int i = 0; i < z->nsrc; i++)
			if (z->src[i].upstream == l->upstream) {
				ans[i].a = l->r.a;
				ans[i].na = l->r.na;
			}
	}
	policy_add_upstream(z->src, z->nsrc, z->threshold, ans, &v);
	static struct query_upstream upa;
	n = ask(ad, s, name, DNS_T_A, out, &upa);
	char none[8];
	int rcode = read_answer(out, n, a, &na, none, sizeof(none));
	int listed = rcode == DNS_R_NOERROR && na > 0;

	if (json) {
		ctl_out_printf(o, "{\"zone\":");
		ctl_out_json_string(o, z->name);
		ctl_out_printf(o, ",\"listed\":%s,\"score\":%d,\"threshold\":%d,"
		    "\"sources\":[", listed ? "true" : "false", v.score,
		    z->threshold);
	} else
		ctl_out_printf(o, "zone %s: %s (score %d, threshold %d)\n", z->name,
		    listed ? "LISTED" : "not listed", v.score, z->threshold);
	for (int i = 0; i < z->nsrc; i++) {
		const struct policy_source *src = &z->src[i];
		int matched = 0;
		uint32_t entry = LIST_NOENTRY;
		for (int m = 0; m < v.nmatch; m++)
			if (v.match[m].source == i) {
				matched = 1;
				entry = v.match[m].entry;
			}
		char what[700];
		const char *kind = src->list >= 0 ? "list" : "upstream";
		what[0] = '\0';
		if (src->list >= 0 && matched && (entry & LIST_DYN_BIT)) {
			const struct journal_entry *je = dyn_entry(ad, src->name, ip);
			char net[64], t[32];
			if (je)
				snprintf(what, sizeof(what), "run-time entry %s by %s, "
				    "%s%s%s%s", cidr_text(&je->net, net, sizeof(net)),
				    je->origin, je->expires ? "expires " : "never expires",
				    je->expires ? iso_time(je->expires, t, sizeof(t)) : "",
				    je->reason[0] ? ": " : "", je->reason);
		} else if (src->list >= 0 && matched) {
			const struct list *l = s->lists[src->list];
			char t[256];
			size_t tl = list_entry_txt(l, entry, ip, t, sizeof(t));
			snprintf(what, sizeof(what), "entry in %s%s%s%s",
			    s->cfg->lists[src->list].file, tl ? " \"" : "",
			    tl ? t : "", tl ? "\"" : "");
		} else if (src->list >= 0) {
			snprintf(what, sizeof(what), "no entry");
		} else {
			const struct query_lookup *l = NULL;
			for (int k = 0; k < up.n; k++)
				if (up.l[k].upstream == src->upstream &&
				    up.l[k].qtype == DNS_T_A)
					l = &up.l[k];
			const char *from = !l ? "" : l->stale ? ", stale cache" :
			    l->cached ? ", cache" : ", fresh";
			if (!l)
				snprintf(what, sizeof(what), "not asked: the local "
				    "sources decide");
			else if (l->state != QL_DONE)
				snprintf(what, sizeof(what), "no answer within %d ms",
				    l->timeout_ms);
			else if (l->r.status == UPS_FAIL)
				snprintf(what, sizeof(what), "lookup failed (rcode %d)",
				    l->r.rcode);
			else if (l->r.status != UPS_ANSWER)
				snprintf(what, sizeof(what), "%s, TTL %u%s",
				    l->r.status == UPS_NXDOMAIN ? "NXDOMAIN" : "no A record",
				    l->r.ttl, from);
			else if (l->r.na == 0)
				snprintf(what, sizeof(what), "error code, not counted%s",
				    from);
			else {
				size_t w = 0;
				for (int k = 0; k < l->r.na && w < sizeof(what) - 40; k++)
					w += (size_t)snprintf(what + w, sizeof(what) - w, "%s%s",
					    k ? " " : "", a_text(l->r.a[k], buf, sizeof(buf)));
				snprintf(what + w, sizeof(what) - w, ", TTL %u%s", l->r.ttl,
				    from);
			}
		}
		if (json) {
			ctl_out_printf(o, "%s{\"source\":", i ? "," : "");
			ctl_out_json_string(o, src->name);
			ctl_out_printf(o, ",\"kind\":\"%s\",\"weight\":%d,\"counted\":%s,"
			    "\"detail\":", kind, src->weight, matched ? "true" : "false");
			ctl_out_json_string(o, what);
			ctl_out_printf(o, "}");
		} else
			ctl_out_printf(o, "  %-8s %-28s %s%+d  %s\n", kind, src->name,
			    matched ? "" : "(", src->weight, what);
	}
	if (json) {
		ctl_out_printf(o, "],\"answer\":{\"rcode\":%d,\"a\":[", rcode);
		for (int k = 0; k < na; k++)
			ctl_out_printf(o, "%s\"%s\"", k ? "," : "",
			    a_text(a[k], buf, sizeof(buf)));
		ctl_out_printf(o, "],\"txt\":");
		ctl_out_json_string(o, listed ? txt : "");
		ctl_out_printf(o, "}}");
	} else if (listed) {
		ctl_out_printf(o, "  mail server sees: A %s, TXT \"%s\"\n",
		    a_text(a[0], buf, sizeof(buf)), txt);
		ctl_out_printf(o, "  (reject_rbl_client %s rejects; the TXT is "
		    "$rbl_reason)\n", z->name);
	} else
		ctl_out_printf(o, "  mail server sees: %s\n", rcode == DNS_R_NXDOMAIN ?
		    "NXDOMAIN (not listed)" : "no A record (not listed)");
}

static int
cmd_check(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	const struct snapshot *s = *ad->cur;
	struct ipaddr ip = req->ip;
	char text[INET6_ADDRSTRLEN];
	addr_unmap_v4(&ip);
	addr_ntop(&ip, text, sizeof(text));
	if (req->json)
		ctl_out_printf(o, "{\"ip\":\"%s\",\"zones\":[", text);
	else
		ctl_out_printf(o, "%s\n", text);
	for (int i = 0; i < s->cfg->nzones; i++) {
		if (req->json && i)
			ctl_out_printf(o, ",");
		check_zone(ad, s, &s->cfg->zones[i], &ip, req->json, o);
	}
	if (req->json)
		ctl_out_printf(o, "]}\n");
	return 0;
}

/* ---- stats, reload, flush ---- */

static int
cmd_stats(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	struct stats_snapshot snap;
	size_t len;
	stats_collect(ad, &snap);
	char *text = stats_render(&snap, req->json ? STATS_JSON : STATS_TEXT,
	    &len);
	stats_release(&snap);
	if (!text) {
		ctl_out_error(o, "out of memory");
		return -1;
	}
	ctl_out_write(o, text, len);
	free(text);
	return 0;
}

static int
cmd_reload(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	char err[256];
	if (ad->reload(err, sizeof(err)) < 0) {
		ctl_out_error(o, "%s", err);
		return -1;
	}
	ctl_out_printf(o, req->json ? "{\"reloaded\":true}\n" : "reloaded\n");
	return 0;
}

static int
cmd_flush(struct admin *ad, const struct ctl_request *req, struct ctl_out *o)
{
	uint64_t n = 0;
	char text[INET6_ADDRSTRLEN] = "";
	if (req->argc > 0) {
		struct ipaddr ip = req->ip;
		addr_unmap_v4(&ip);
		addr_ntop(&ip, text, sizeof(text));
		if (ad->cache)
			n = cache_flush_ip(ad->cache, &ip);
		const struct config *cfg = *ad->cfg;
		char **names = calloc((size_t)cfg->nupstreams + 1, sizeof(*names));
		for (int i = 0; names && i < cfg->nupstreams; i++)
			names[i] = cfg->upstreams[i].name;
		if (ad->up && names)
			upstream_redis_forget(ad->up, &ip, names, cfg->nupstreams);
		free(names);
	} else if (ad->cache)
		n = cache_flush(ad->cache);
	log_info("cache flushed%s%s by rblctl: %" PRIu64 " entries", text[0] ?
	    " for " : "", text, n);
	if (req->json)
		ctl_out_printf(o, "{\"flushed\":%" PRIu64 "}\n", n);
	else
		ctl_out_printf(o, "flushed %" PRIu64 " cache entr%s%s%s\n", n,
		    n == 1 ? "y" : "ies", text[0] ? " for " : "", text);
	return 0;
}

/* ---- API ---- */

int
admin_handle(void *arg, const struct ctl_request *req, struct ctl_out *out)
{
	struct admin *ad = arg;
	int rc;
	switch (req->cmd->id) {
	case CTL_ADD:		rc = cmd_add(ad, req, out); break;
	case CTL_DEL:		rc = cmd_del(ad, req, out); break;
	case CTL_LIST:		rc = cmd_list(ad, req, out); break;
	case CTL_CHECK:		rc = cmd_check(ad, req, out); break;
	case CTL_STATS:		rc = cmd_stats(ad, req, out); break;
	case CTL_RELOAD:	rc = cmd_reload(ad, req, out); break;
	case CTL_FLUSH:		rc = cmd_flush(ad, req, out); break;
	default:
		ctl_out_error(out, "command not implemented");
		return -1;
	}
	if (ad->counters && req->cmd->id < STATS_COMMANDS)
		ad->counters->commands[req->cmd->id][rc < 0]++;
	return rc;
}
