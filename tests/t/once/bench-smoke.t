# bench/run --smoke: every backend and page of the benchmark answers right,
# so a benchmark never measures error pages; the WSAPI workloads are set up
# on luafcgid, wsapi.fcgi and uWSGI alike; the physical limit's backends
# answer beside luafcgid's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use LFTest ();
use File::Temp qw(tempdir);
use Test::More;

my $top = LFTest::top();
plan skip_all => 'wrk is not installed (tools/deps --bench)' unless `which wrk 2>/dev/null`;
# its own TMPDIR: the daemons it starts make their upload directories
# there, not in /tmp, where the package's test (beside it) counts them
my $tmp = tempdir('lf-smoke.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;
my $out = `TMPDIR=$tmp LF_BENCH_NO_DEPS=1 perl $top/bench/run --smoke 2>&1`;
is($? >> 8, 0, 'bench/run --smoke succeeds') or diag $out;
my @backends = $out =~ /^(\S+)\s+\S+\s+answer ok$/mg;
my %seen = map { $_ => 1 } @backends;
for my $b (qw(nginx-return libfcgi-c luafcgid php-fpm ngx_lua wsapi.fcgi uwsgi-lua)) {
    ok($seen{$b}, "$b answered its pages correctly");
}
# the hop's physical limit (bench/epoll-c.c), plain and with kept
# connections, and luafcgid with kept connections on Lua 5.1 and LuaJIT:
# the backends luafcgid's hello is set against
my @limit = $^O eq 'linux' ? qw(limit limit+ka) : ();
my @jit = system('pkg-config --exists luajit 2>/dev/null') == 0 ? qw(luafcgid-jit+ka) : ();
for my $b (@limit, 'luafcgid+ka', @jit) {
    like($out, qr/^\Q$b\E\s+hello\s+answer ok$/m, "$b answers hello");
}
# the WSAPI workloads: a WSAPI hello and an Orbit page on the three WSAPI servers
for my $b (qw(luafcgid wsapi.fcgi uwsgi-lua)) {
    for my $page (qw(wsapi-hello orbitpage)) {
        like($out, qr/^\Q$b\E\s+$page\s+answer ok$/m, "$b answers the $page workload");
    }
}
like($out, qr/cpu\s+[\d.]+ us\/req/, 'CPU time per request is reported');
unlike($out, qr/WRONG ANSWER/, 'no wrong answer from any backend');
like($out, qr/smoke: every backend answered every page correctly/, 'and under load too');
done_testing;
