# New connections wait their turn with kept ones, not behind them: with
# every worker busy and forty kept connections (FCGI_KEEP_CONN) sending
# their next request as soon as the last is answered, a request on a new
# connection waits about as long as one on a kept connection (p99 at most
# 3x), directly and through nginx (keepalive 8, fastcgi_keep_conn on, a
# load at c24 and clients that open a connection per request beside it).
# Scripts sleep 2-24 ms (LuaSocket's sleep), so the load is the workers'
# time, not the machine's CPU; both kinds are measured in the same run by
# the same client (one process directly, wrk through nginx), so a loaded
# machine slows both alike.
# one build: the FastCGI records, connections and dispatch, all in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp);
use LFLoad;

my $sleeper = "local socket = require 'socket'\n"
            . "function main(env, req)\n"
            . "  local ms = tonumber(env.QUERY_STRING:match('^%d+')) or math.random(2, 24)\n"
            . "  socket.sleep(ms / 1000)\n"
            . "  req:puts('ok ', env.QUERY_STRING)\n"
            . "end\n";

# ---- directly: 40 kept clients, 4 that connect for each request ------------
# on the plain build and on the ThreadSanitizer build
sub direct {
    my ($label, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $t = LFTest->new(conf => { workers => 4, keepalive_max => 100 }, scripts => { 'sleep.lua' => $sleeper });
    my $reports = $t->dir . '/tsan';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . '/tests/tsan.supp';
    $t->start;
    my $script = $t->www . '/sleep.lua';
    # until 150 requests on new connections were answered, 30 s at most
    # (the kept clients' first requests are 40 of them)
    my $r = LFLoad::run(
        connect => sub { $t->connect },
        kept => 40, fresh => 4, seconds => 30, drain => 30,
        enough => sub { @{ $_[0]{fresh} } >= 150 && @{ $_[0]{kept} } >= 600 },
        params => sub {
            my ($c, $n) = @_;
            my $q = (2 + ($c * 7 + $n * 13) % 23) . "-$c-$n";
            return [ { SCRIPT_FILENAME => $script, REQUEST_METHOD => 'GET', QUERY_STRING => $q }, '', "ok $q" ];
        });
    diag("$label: " . LFLoad::summary($r));
    diag($_) for @{ $r->{errors} };
    is($r->{bad} + $r->{unanswered}, 0, "$label: every request of 40 kept and 4 new-connection clients was answered right");
    ok(@{ $r->{fresh} } >= 150, "$label: " . scalar(@{ $r->{fresh} }) . ' requests on new connections were answered meanwhile');
    my ($pk, $pf) = (LFLoad::percentile(99, @{ $r->{kept} }), LFLoad::percentile(99, @{ $r->{fresh} }));
    ok($pf <= 3 * $pk, sprintf("$label: a request on a new connection waits its turn: p99 %.3f s, kept ones %.3f s", $pf, $pk));
    is($t->stop, 0, "$label: stops");
    return unless %env;
    my $text = join('', map { slurp($_) } glob("$reports.*"));
    is(scalar(() = $text =~ /WARNING: ThreadSanitizer/g), 0, "$label: no ThreadSanitizer report")
        or diag(substr($text, 0, 6000));
}

direct('plain build');
SKIP: {
    skip 'no ThreadSanitizer build (LUAFCGID_TSAN)', 5 unless $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
    direct('TSan build', LUAFCGID => $ENV{LUAFCGID_TSAN});
}

# ---- through nginx: keepalive 8, a load at c24, new clients beside it ------
# Both measured by wrk, over the same seconds: the load on kept HTTP
# connections, and beside it four clients that connect for each request
# (as curl does), so nginx often has no idle connection to luafcgid for
# them and opens a new one.
sub wrk_p99 {
    my ($out) = @_;
    my ($p99, $unit) = $out =~ /^\s+99%\s+([\d.]+)(us|ms|s)\b/m;
    return defined $p99 ? $p99 / { us => 1e6, ms => 1e3, s => 1 }->{$unit} : 0;
}
SKIP: {
    skip 'nginx is not installed', 6 unless -x LFTest::nginx_binary();
    skip 'wrk is not installed', 6 unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};
    my $t = LFTest->new(conf => { workers => 4 }, scripts => { 'sleep.lua' => $sleeper });
    $t->start;
    my $port = $t->start_nginx(keepalive => 8);
    my $url = "http://127.0.0.1:$port/sleep.lua";
    my @cmd = ([ qw(wrk -t2 -c24 -d8s --latency), $url ],
               [ qw(wrk -t1 -c4 -d8s --latency -H), 'Connection: close', $url ]);
    my ($load, $side) = LFTest::wait_clients(LFTest::start_clients(2, sub {
        open(my $fh, '-|', @{ $cmd[$_[0] - 1] }) or return undef;
        local $/;
        return scalar <$fh>;
    }), 60);
    $_ //= '' for $load, $side;
    my ($p99, $load99) = (wrk_p99($side), wrk_p99($load));
    my ($n) = $side =~ /(\d+) requests in/;
    diag(sprintf('through nginx: the load (c24, kept) p99 %.3f s; %d requests on new connections beside it, p99 %.3f s',
                 $load99, $n // 0, $p99));
    ok($load99 > 0 && $load !~ /Non-2xx|Socket errors/, 'through nginx, the load got every answer') or diag($load);
    ok($p99 > 0 && $side !~ /Non-2xx|Socket errors: connect [1-9]|read [1-9]|timeout [1-9]/,
       'the new clients beside it too') or diag($side);
    ok(($n // 0) >= 30, ($n // 0) . ' requests on new connections beside the load');
    ok($p99 <= 3 * $load99, sprintf('each waited its turn: p99 %.3f s, the load %.3f s', $p99, $load99));
    unlike(slurp($t->dir . '/nginx/error.log'), qr/\[error\]/, 'nginx logged no upstream error');
    $t->stop_nginx;
    is($t->stop, 0, 'stops');
}

done_testing;
