# bench/profile: what it counts in the serving process, divided by the
# requests wrk made, is per request: known counts come out as such.
# luafcgid with kept connections stats its script once a request, reads
# it in one read and parks its connection again in the parked set's epoll
# set once (dispatch_watch.c); with idle connections open it runs too
# (what they cost is measured, not asserted here); with 200 scripts on
# 32 states most requests load one; the bare responder (bench/epoll-c.c)
# with a connection a request accepts, reads, sends and closes once each.
# alone: it counts what one run of wrk makes, on a machine kept for it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use LFTest ();
use Test::More;

my $top = LFTest::top();
plan skip_all => 'bench/profile is for Linux' unless $^O eq 'linux';
plan skip_all => 'wrk is not installed (tools/deps --bench)' unless `which wrk 2>/dev/null`;
plan skip_all => 'perf cannot count system calls here'
    unless system('perf stat -e raw_syscalls:sys_enter -o /dev/null -- true >/dev/null 2>&1') == 0;

sub profile {
    my (@args) = @_;
    my $bin = LFTest::binary();
    my $out = `perl $top/bench/profile --seconds 1 --bin $bin @args 2>&1`;
    is($? >> 8, 0, "bench/profile @args succeeds") or diag $out;
    my %per = $out =~ /^\s+(\w+)\s+([\d.]+)$/mg;
    return ($out, \%per);
}

my ($out, $per) = profile();
like($out, qr/^luafcgid, page hello, kept connections, c16, 1 s: [1-9]\d* requests/m, 'it names what it measured');
like($out, qr/per request: [\d.]+ us of CPU \(task-clock\), [\d.]+ context switches/, 'CPU and switches per request');
ok(abs(($per->{newfstatat} // 0) - 1) < 0.05, "luafcgid: one stat a request (" . ($per->{newfstatat} // 'none') . ")");
ok(($per->{read} // 0) >= 0.95 && ($per->{read} // 0) < 1.5, "luafcgid: about one read a request (" . ($per->{read} // 'none') . ")");
ok(abs(($per->{epoll_ctl} // 0) - 1) < 0.05, "luafcgid: one re-arm of its connection a request (" . ($per->{epoll_ctl} // 'none') . ")");

($out, $per) = profile('--idle', 300);
like($out, qr/^luafcgid, page hello, kept connections, c16, 300 idle, 1 s: [1-9]\d* requests/m,
     'with 300 idle connections open (all still open after), every request answered');
ok(abs(($per->{newfstatat} // 0) - 1) < 0.05, "luafcgid, 300 idle: one stat a request (" . ($per->{newfstatat} // 'none') . ")");

# 200 scripts asked for at random on 32 states: most requests load one
($out, $per) = profile('--page', 'many-scripts');
like($out, qr/^luafcgid, page many-scripts, kept connections, c16, 1 s: [1-9]\d* requests/m,
     'many scripts: every request answered (2xx)');
ok(($per->{openat} // 0) > 0.6 && ($per->{openat} // 0) < 0.98,
   "many scripts: most requests open their script to load a state (" . ($per->{openat} // 'none') . ")");

($out, $per) = profile('--backend', 'limit', '--plain');
like($out, qr/^limit, page hello, new connections/m, 'the bare responder, a connection a request');
for my $call (qw(accept4 read sendto close)) {
    ok(abs(($per->{$call} // 0) - 1) < 0.05, "limit: one $call a request (" . ($per->{$call} // 'none') . ")");
}
done_testing;
