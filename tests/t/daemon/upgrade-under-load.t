# USR2 and HUP under a POST and GET load through nginx with kept
# connections (keepalive 8, fastcgi_keep_conn on): ten upgrades and ten
# reloads, and not one request fails, by nginx's error log and by the
# client's own count. nginx never retries a POST whose connection closed
# under it, so this holds only if no kept connection is closed while nginx
# may be writing a request on it: the old serving process passes its kept
# connections on to the new one. On TCP every other reload also puts
# keepalive_max below nginx's pool: a connection past it is closed with its
# answer (the FIN in the answer's last segment), never while idle.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp spew alive);

plan skip_all => 'nginx is not installed' unless -x LFTest::nginx_binary();
plan skip_all => 'wrk is not installed' unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};

my $ROUNDS = 10;
my $PACE = 300;     # requests each serving process and each config serves, at least

# Requests the serving process has taken, by its status page.
sub accepted {
    my ($t) = @_;
    my $r = $t->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status', REQUEST_METHOD => 'GET',
                       REQUEST_URI => '/status', QUERY_STRING => '' }, '', timeout => 10);
    return $r->{body} =~ /^accepted conn:\s+(\d+)/m ? $1 : 0;
}

# Wait until the load has had PACE more requests answered than FROM.
sub paced {
    my ($t, $from) = @_;
    return wait_for(sub { accepted($t) >= $from + $PACE }, 30);
}

# LABEL: on a unix socket, or on TCP (TCP => 1), where keepalive_max goes
# below nginx's pool every other reload; %ENV for the daemon.
sub rounds {
    my ($label, $tcp, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $low = $tcp ? 4 : 64;
    my $t = LFTest->new(conf => { workers => 4, states => 8, status_path => '/status',
                                  ($tcp ? (listen => '127.0.0.1:' . LFTest::free_port()) : ()) }, scripts => {
        'p.lua' => "function main(env, req) local b = req:read() or '' req:puts('ok ', env.REQUEST_METHOD, ' ', #b) end\n",
    });
    my $reports = $t->dir . '/tsan';
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . '/tests/tsan.supp';
    $t->start;
    my $port = $t->start_nginx(keepalive => 8);
    my $dir = $t->dir;

    # wrk, 16 connections, every other request a POST of 1000 bytes; each
    # answer is checked, and the bad ones counted over all threads
    spew("$dir/mix.lua", <<~'LUA');
    local threads = {}
    function setup(thread) table.insert(threads, thread) end
    function init(args) bad = 0 n = 0 end
    local body = string.rep('x', 1000)
    function request()
      n = n + 1
      if n % 2 == 0 then
        return wrk.format('POST', '/p.lua', { ['Content-Type'] = 'application/octet-stream' }, body)
      end
      return wrk.format('GET', '/p.lua')
    end
    function response(status, headers, b)
      if status ~= 200 or not (b == 'ok POST 1000' or b == 'ok GET 0') then bad = bad + 1 end
    end
    function done(summary, latency, requests)
      local total = 0
      for _, th in ipairs(threads) do total = total + th:get('bad') end
      io.write(string.format('checked: %d requests, %d bad answers\n', summary.requests, total))
    end
    LUA
    my $wrk = fork // die "fork: $!";
    if ($wrk == 0) {
        open(STDOUT, '>', "$dir/wrk.out");
        open(STDERR, '>&', \*STDOUT);
        exec('wrk', '-t2', '-c16', '-d120s', '-s', "$dir/mix.lua", "http://127.0.0.1:$port/p.lua") or POSIX::_exit(127);
    }
    LFTest::track($wrk, 'wrk');
    ok(wait_for(sub { slurp("/proc/$wrk/comm") =~ /^wrk/ }, 5), "$label: the load runs");

    my ($upgraded, $reloaded) = (0, 0);
    my $pid = $t->pid;
    for my $round (1 .. $ROUNDS) {
        # a reload that changes what it may: states, and keepalive_max; on
        # TCP below nginx's pool every other time (a connection past it is
        # closed with its answer, in the same segment, never while idle)
        $t->write_conf(states => 6 + $round % 3, keepalive_max => $round % 2 ? $low : 1024);
        my $before = () = $t->log =~ /\] reloaded /g;
        kill 'HUP', $pid;
        $reloaded++ if wait_for(sub { (() = $t->log =~ /\] reloaded /g) > $before }, 20)
                       && paced($t, accepted($t));
        # an upgrade to the same build
        $before = () = $t->log =~ /the new binary serves as pid/g;
        kill 'USR2', $pid;
        next unless wait_for(sub { (() = $t->log =~ /the new binary serves as pid/g) > $before }, 60);
        my ($new) = ($t->log =~ /the new binary serves as pid (\d+)/g)[-1];
        LFTest::track($new, 'luafcgid (upgraded)');
        # the old supervisor exits by itself once its serving process drained
        # (the first is this test's child; the others are not)
        $upgraded++ if wait_for(sub { waitpid($pid, POSIX::WNOHANG()); !alive($pid) }, 60)
                       && paced($t, 0);    # the new one counts from its start
        LFTest::untrack($pid);
        $pid = $t->{pid} = $new;
    }
    is($reloaded, $ROUNDS, "$label: $ROUNDS reloads under load");
    is($upgraded, $ROUNDS, "$label: $ROUNDS upgrades under load, each old daemon drained and exited");
    is(scalar(() = $t->log =~ /stopped; the new binary serves on/g), $ROUNDS, "$label: each said so");
    kill 'INT', $wrk;
    waitpid($wrk, 0);
    LFTest::untrack($wrk);
    my $out = slurp("$dir/wrk.out");
    my ($requests, $bad) = $out =~ /checked: (\d+) requests, (\d+) bad answers/;
    diag($out =~ /(\d+ requests in [\d.]+\w+)/ ? "$label: wrk: $1" : "$label: wrk: $out");
    ok($requests && $requests > 2 * $ROUNDS * $PACE, "$label: the client made requests throughout (" . ($requests // 0) . ')');
    is($bad, 0, "$label: the client got a right answer to every one");
    unlike($out, qr/Socket errors|Non-2xx/, "$label: and no socket error or other status");
    my @errors = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, slurp("$dir/nginx/error.log");
    is(scalar @errors, 0, "$label: nginx logged no upstream error") or diag(join("\n", @errors[0 .. ($#errors < 4 ? $#errors : 4)]));
    like($t->log, qr/idle connections? passed on to the serving process that takes over/, "$label: kept connections were passed on");
    my @ours = grep { /\[(error|crit)\]/ } split /\n/, $t->log;
    is(scalar @ours, 0, "$label: luafcgid logged no error") or diag(join("\n", @ours[0 .. ($#ours < 4 ? $#ours : 4)]));

    $t->stop_nginx;
    kill 'TERM', $pid;
    ok(wait_for(sub { !alive($pid) }, 30), "$label: the last one stops with TERM");
    LFTest::untrack($pid);
    $t->{pid} = undef;
    return unless %env;
    my $text = join('', map { slurp($_) } glob("$reports.*"));
    is(scalar(() = $text =~ /WARNING: ThreadSanitizer/g), 0, "$label: no ThreadSanitizer report")
        or diag(substr($text, 0, 6000));
}

rounds('unix socket', 0);
rounds('TCP, keepalive_max below the pool', 1);
SKIP: {
    skip 'no ThreadSanitizer build (LUAFCGID_TSAN)', 12 unless $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
    rounds('TSan build', 0, LUAFCGID => $ENV{LUAFCGID_TSAN});
}
done_testing;
