# A serving process replaced while it serves (a worker stuck in C past
# terminate_timeout with max_written_off 1, or C code's malloc past
# max_rss) under a POST and GET load through nginx with kept connections
# (keepalive 8, fastcgi_keep_conn on): six replacements, and not one
# request of the load fails, by nginx's error log and the client's own
# count. The new serving process serves before the old one stops, and
# the old one passes its kept connections on instead of closing them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX ();
use LFTest qw(wait_for slurp spew alive);

plan skip_all => 'nginx is not installed' unless -x LFTest::nginx_binary();
plan skip_all => 'wrk is not installed' unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};

# ROUNDS replacements, every other one for max_rss when RSS is set (not
# with ThreadSanitizer, whose shadow memory is over any small bound).
sub rounds {
    my ($label, $rounds, $rss, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $t = LFTest->new(conf => { workers => 4, states => 8, timeout => 2, terminate_timeout => 3,
                                  sweep => 100, max_rss => $rss ? 48 * 1024 * 1024 : 0 });
    my $www = $t->www;
    my $dir = $t->dir;
    LFTest::c_module($www, 'block', slurp(LFTest::top() . '/tests/lib/block.c'))
        or return fail("$label: the blocking module: $@");
    $t->script('p.lua', "function main(env, req) local b = req:read() or '' req:puts('ok ', env.REQUEST_METHOD, ' ', #b) end\n");
    $t->script('c.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
local block = require "block"
function main(env, req)
  local how, arg = env.QUERY_STRING:match("^(%a+) (%d+)\$")
  block[how](tonumber(arg))
  req:puts("back")
end
LUA
    my $reports = "$dir/tsan";
    local $ENV{TSAN_OPTIONS} = "halt_on_error=0 log_path=$reports suppressions=" . LFTest::top() . '/tests/tsan.supp';
    $t->start;
    my $port = $t->start_nginx(keepalive => 8);

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
        exec('wrk', '-t2', '-c16', '-d300s', '-s', "$dir/mix.lua", "http://127.0.0.1:$port/p.lua") or POSIX::_exit(127);
    }
    LFTest::track($wrk, 'wrk');
    ok(wait_for(sub { slurp("/proc/$wrk/comm") =~ /^wrk/ }, 5), "$label: the load runs");

    # each round: a request straight to the socket that gets stuck in C,
    # or that mallocs past max_rss; then the replacement, and the old
    # serving process gone
    my ($replaced, $gone, $stuck_500) = (0, 0, 0);
    for my $round (1 .. $rounds) {
        my $old = LFTest::serving_pid($t);
        my $before = () = $t->log =~ /serving process \d+ replaces \d+/g;
        my $stuck = !$rss || $round % 2;
        my $r = $t->get('c.lua', QUERY_STRING => $stuck ? 'spin 60' : 'grab 64');
        $stuck_500++ if $stuck && $r->{status} == 500;
        $replaced++ if wait_for(sub { (() = $t->log =~ /serving process \d+ replaces $old\b/g) > 0 }, 30);
        $gone++ if wait_for(sub { !alive($old) }, 30);
    }
    is($replaced, $rounds, "$label: $rounds replacements under load");
    is($gone, $rounds, "$label: each replaced serving process drained and exited");
    is($stuck_500, $rss ? int(($rounds + 1) / 2) : $rounds, "$label: each stuck request was answered 500");
    like($t->log, qr/asks to be replaced \(over max_rss\)/, "$label: some for max_rss") if $rss;
    like($t->log, qr/asks to be replaced \(workers written off\)/, "$label: some for a stuck worker");
    kill 'INT', $wrk;
    waitpid($wrk, 0);
    LFTest::untrack($wrk);
    my $out = slurp("$dir/wrk.out");
    my ($requests, $bad) = $out =~ /checked: (\d+) requests, (\d+) bad answers/;
    diag($out =~ /(\d+ requests in [\d.]+\w+)/ ? "$label: wrk: $1" : "$label: wrk: $out");
    ok($requests && $requests > 1000, "$label: the client made requests throughout (" . ($requests // 0) . ')');
    is($bad, 0, "$label: the client got a right answer to every one");
    unlike($out, qr/Socket errors|Non-2xx/, "$label: and no socket error or other status");
    my @errors = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, slurp("$dir/nginx/error.log");
    is(scalar @errors, 0, "$label: nginx logged no upstream error")
        or diag(join("\n", @errors[0 .. ($#errors < 4 ? $#errors : 4)]));
    like($t->log, qr/idle connections? passed on to the serving process that takes over/,
         "$label: kept connections were passed on");

    $t->stop_nginx;
    is($t->stop, 0, "$label: TERM stops it cleanly");
    return unless %env;
    my $text = join('', map { slurp($_) } glob("$reports.*"));
    is(scalar(() = $text =~ /WARNING: ThreadSanitizer/g), 0, "$label: no ThreadSanitizer report")
        or diag(substr($text, 0, 6000));
}

rounds('plain build', 6, 1);
SKIP: {
    skip 'no ThreadSanitizer build (LUAFCGID_TSAN)', 12 unless $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
    rounds('TSan build', 2, 0, LUAFCGID => $ENV{LUAFCGID_TSAN});
}
done_testing;
