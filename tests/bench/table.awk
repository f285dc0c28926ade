# Formats the fan-out benchmark results (run.sh) as one table.
# Input 1: "SERVER e writes=N received=N" lines; input 2: "SERVER CASE result k=v ...".
# ratio columns: case a compares RSS per connection, every other case server
# CPU per delivery; xfloor against the floor server, xnchan against nchan.
# Each case NAME-tls adds a line "TLS cost" against case NAME, same server.
# turnms: sno's longest loop turn in the publish window, as the bound of its
# /metrics histogram bucket (0.5, 1, 2, 5, 10, 20 ... ms); cpums: the most CPU
# time one turn of the window used, to the same buckets; preempt: how often
# the kernel took the server's core from it in the window (its main
# thread's nonvoluntary context switches). A turn lasts longer than the CPU
# it used by the time another process held the core.
FILENAME == ARGV[1] {
	for (i = 3; i <= NF; i++) {
		split($i, kv, "=")
		w[$1, kv[1]] = kv[2]
	}
	next
}
{
	srv = $1; cs = $2
	if (!((cs) in seen)) { seen[cs] = 1; order[++nc] = cs }
	if (!((srv) in sseen)) { sseen[srv] = 1; sorder[++ns] = srv }
	if ($3 == "skipped") { skip[srv, cs] = 1; next }
	for (i = 4; i <= NF; i++) {
		split($i, kv, "=")
		v[srv, cs, kv[1]] = kv[2]
	}
}
function key(s, c) {
	return c ~ /^a/ ? v[s, c, "rss_per_conn_b"] : v[s, c, "srv_us_per_deliv"]
}
function ratio(s, ref, c) {
	if (key(ref, c) == "" || key(ref, c) + 0 == 0 || key(s, c) == "")
		return "-"
	return sprintf("%.2f", key(s, c) / key(ref, c))
}
function ms(x) { return x == "" ? "-" : sprintf("%.2f", x / 1000) }
END {
	printf "%-5s %-6s %6s %6s %8s %6s %6s %8s %5s %7s %7s %7s %7s %6s %5s %6s %7s %7s %5s %6s %6s %6s %7s\n",
	    "case", "server", "subs", "held", "us/deliv", "xfloor", "xnchan",
	    "deliv/s", "kept%", "p50ms", "p99ms", "p999ms", "maxms", "lost", "reord",
	    "rss/c", "pub50us", "pub99us", "gen%", "d/wr", "turnms", "cpums", "preempt"
	for (k = 1; k <= nc; k++) {
		cs = order[k]
		for (j = 1; j <= ns; j++) {
			s = sorder[j]
			if ((s, cs) in skip)
				continue
			if (v[s, cs, "subs"] == "") {
				printf "%-5s %-6s run failed\n", cs, s
				continue
			}
			a = cs ~ /^a/
			dw = w[s, "writes"] > 0 ? sprintf("%.2f", w[s, "received"] / w[s, "writes"]) : "-"
			tw = v[s, cs, "turn_win_ms"]
			tw = tw == "" ? "-" : (tw + 0 < 0 ? ">250" : tw)
			tc = v[s, cs, "turn_cpu_win_ms"]
			tc = tc == "" ? "-" : (tc + 0 < 0 ? ">250" : tc)
			pre = v[s, cs, "preempted"] == "" ? "-" : v[s, cs, "preempted"]
			printf "%-5s %-6s %6d %6d %8s %6s %6s %8s %5s %7s %7s %7s %7s %6s %5s %6s %7s %7s %5.1f %6s %6s %6s %7s\n",
			    cs, s, v[s, cs, "subs"], v[s, cs, "subscribed"],
			    a ? "-" : sprintf("%.2f", v[s, cs, "srv_us_per_deliv"]),
			    ratio(s, "floor", cs), ratio(s, "nchan", cs),
			    a ? "-" : v[s, cs, "deliv_per_s"],
			    a ? "-" : sprintf("%.0f", v[s, cs, "kept_pct"]),
			    a ? "-" : ms(v[s, cs, "p50_us"]), a ? "-" : ms(v[s, cs, "p99_us"]),
			    a ? "-" : ms(v[s, cs, "p999_us"]), a ? "-" : ms(v[s, cs, "max_us"]),
			    a ? "-" : v[s, cs, "lost"], a ? "-" : v[s, cs, "reordered"],
			    a ? v[s, cs, "rss_per_conn_b"] : "-",
			    a ? "-" : v[s, cs, "pub_p50_us"], a ? "-" : v[s, cs, "pub_p99_us"],
			    v[s, cs, "gen_cpu_pct"], cs == "e" ? dw : "-", tw, tc, pre
		}
	}
	# Case NAME-tls beside case NAME on the same server.
	for (k = 1; k <= nc; k++) {
		cs = order[k]
		if (cs !~ /-tls$/)
			continue
		pl = cs
		sub(/-tls$/, "", pl)
		for (j = 1; j <= ns; j++) {
			s = sorder[j]
			if (v[s, cs, "srv_us_per_deliv"] + 0 == 0 ||
			    v[s, pl, "srv_us_per_deliv"] + 0 == 0)
				continue
			printf "TLS cost: %s %s/%s = %.2fx CPU per delivery (%.2f vs %.2f us), p99 %s vs %s ms\n",
			    s, cs, pl, v[s, cs, "srv_us_per_deliv"] / v[s, pl, "srv_us_per_deliv"],
			    v[s, cs, "srv_us_per_deliv"], v[s, pl, "srv_us_per_deliv"],
			    ms(v[s, cs, "p99_us"]), ms(v[s, pl, "p99_us"])
		}
	}
}
