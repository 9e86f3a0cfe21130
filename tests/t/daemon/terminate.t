# terminate_timeout: a request whose script is stuck in a C function (no
# hook can stop it) that long has its worker written off and replaced at
# once: the client gets a 500 page, the pool keeps its size, the state is
# never used again, and the log, the slow log and the status page say so.
# max_written_off stuck workers, or max_rss of resident memory, make the
# serving process be replaced through the hand-over, losing no request.
# The C module is built here: it sleeps or spins in C (as a socket read
# with no timeout, or a regular expression library, would), and mallocs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use LFTest qw(wait_for slurp spew alive);

my $t = LFTest->new(conf => { workers => 2, timeout => 3, terminate_timeout => 4, max_written_off => 2,
                              sweep => 100, status_path => '/status' });
my $www = $t->www;
my $dir = $t->dir;
$t->write_conf(slowlog => "$dir/slow.log", slowtime => 60);

LFTest::c_module($www, 'block', slurp(LFTest::top() . '/tests/lib/block.c'))
    or plan skip_all => "the blocking module: $@";

# QUERY_STRING "sleep 8", "spin 30", "grab 96": after some Lua (the hook
# keeps a traceback of it), into C. A state's own hit count says whether
# the state is new.
$t->script('stuck.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
local block = require "block"
hits = 0
local function busy()
  local n, t0 = 0, os.clock()
  while os.clock() - t0 < 0.05 do n = n + 1 end
  return n
end
function main(env, req)
  hits = hits + 1
  local how, arg = env.QUERY_STRING:match("^(%a+) (%d+)\$")
  if how then
    busy()
    block[how](tonumber(arg))
  end
  req:puts("hits ", hits)
end
LUA
# A rendezvous: each request checks in, then waits (bounded) for N in all;
# only N requests served at once all answer "met".
$t->script('meet.lua', <<'LUA');
function main(env, req)
  local file = env.ARRIVALS
  local f = assert(io.open(file, "a")) f:write("x\n") f:close()
  local want, met = tonumber(env.WANT), false
  for i = 1, 100 do
    local n = 0
    for _ in io.lines(file) do n = n + 1 end
    if n >= want then met = true break end
    os.execute("sleep 0.02")
  end
  req:puts(met and "met" or "alone")
end
LUA
$t->script('good.lua', "function main(env, req) req:puts('good ', env.QUERY_STRING) end\n");

sub status_page {
    my ($query, $d) = @_;
    return ($d // $t)->fcgi({ SCRIPT_NAME => '/status', SCRIPT_FILENAME => '/status', REQUEST_METHOD => 'GET',
                      QUERY_STRING => $query // '' }, undef);
}
sub text_field {
    my ($body, $key) = @_;
    return $body =~ /^\Q$key\E:\s+(\S+)$/m ? $1 : undef;
}
# N requests to meet.lua, all sent before any answer is read.
sub meet {
    my ($n) = @_;
    my $file = "$dir/arrivals." . int(rand(1e9));
    my @socks = map {
        my $s = $t->connect;
        LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$www/meet.lua",
            REQUEST_METHOD => 'GET', ARRIVALS => $file, WANT => $n }, ''));
        $s;
    } 1 .. $n;
    return map { LFTest::read_response($_, timeout => 15)->{body} } @socks;
}
# Clients asking good.lua in a loop until STOP appears: a line a request.
sub load {
    my ($d, $n, $stop) = @_;
    return LFTest::start_clients($n, sub {
        my ($c) = @_;
        my @lines;
        my $end = time + 60;
        for (my $i = 0; !-e $stop && time < $end && $i < 100000; $i++) {
            my $r = $d->get('good.lua', QUERY_STRING => "$c-$i");
            push @lines, ($r->{status} == 200 && $r->{body} eq "good $c-$i" ? 1 : 0);
        }
        return join("\n", @lines) . "\n";
    });
}
sub load_results {
    my ($h, $stop) = @_;
    spew($stop, "stop");
    my @out = LFTest::wait_clients($h, 60);
    my @all = map { split /\n/, $_ // '' } @out;
    return (scalar(grep { $_ } @all), scalar(grep { !$_ } @all), scalar(grep { !defined } @out));
}

$t->start;
my $serving = LFTest::serving_pid($t);
is($t->get('stuck.lua')->{body}, 'hits 1', 'the module loads');

# ---- a worker stuck in C is written off and replaced ---------------------

my $t0 = time;
my $r = $t->get('stuck.lua', QUERY_STRING => 'sleep 9');
my $took = time - $t0;
is($r->{status}, 500, 'a request stuck in C gets a 500 page');
ok($took >= 3.9 && $took < 8, sprintf('at terminate_timeout, not when the C call returns (%.1f s)', $took));
like($r->{body}, qr/terminate_timeout \(4 s\)/, 'the page says why (showerrors)');
ok($t->wait_log(qr{worker (\d) request (\S+): \Q$www\E/stuck\.lua: GET .*past terminate_timeout \(4 s\), stuck in a C function: written off}),
   'the log names the worker, the request id and the script');
like($t->log, qr{its hook's last traceback.*\n.*\Q$www\E/stuck\.lua:\d+:}, 'with the last Lua traceback');
my $slow = slurp("$dir/slow.log");
like($slow, qr/written off: its script ran [\d.]+ s, past terminate_timeout \(4 s\)/, 'the slow log has an entry');
like($slow, qr{script_filename = \Q$www\E/stuck\.lua\n.*stack traceback, as its hook last saw it [\d.]+ s before:\n\t\Q$www\E/stuck\.lua:\d+:}s,
     'with the script and the traceback');

my @met = meet(2);
is(scalar(grep { $_ eq 'met' } @met), 2, 'the pool keeps its size: two requests run at once')
    or diag("@met");
my $page = status_page('full')->{body};
is(text_field($page, 'workers written off'), 1, 'status: one worker written off');
is(text_field($page, 'workers stuck'), 1, 'and still stuck');
is(text_field($page, 'total processes'), 2, 'two workers serve');
like($page, qr/^pid:\s+3\nstate:\s+Written off\n(?:.*\n){8}script:\s+\Q$www\E\/stuck\.lua$/m,
     'the written-off worker is listed after them, with its script');
my $json = JSON::PP->new->decode(status_page('json')->{body});
is($json->{'workers stuck'}, 1, 'the JSON page says so too');
my $om = status_page('openmetrics')->{body};
like($om, qr/^luafcgid_workers_written_off_total 1$/m, 'and the OpenMetrics one');
like($om, qr/^luafcgid_workers_stuck 1$/m, 'with the stuck ones as a gauge');
like(status_page('xml')->{body}, qr{<workers-stuck>1</workers-stuck>}, 'and the XML one');

ok($t->wait_log(qr/its written-off thread came back [\d.]+ s after the write-off/, 10),
   'when the C call returns, the written-off thread ends');
is($t->get('stuck.lua')->{body}, 'hits 1', 'its state was never used again: a new one loads');
$page = status_page()->{body};
is(text_field($page, 'workers stuck'), 0, 'none is stuck any more');
is(text_field($page, 'evictions written off'), 1, 'its state counts as evicted');
is(LFTest::serving_pid($t), $serving, 'below max_written_off the serving process stays');

# req:finish() answers and gives the connection back while the script runs
# on: stuck in C after it, the worker is written off, and the connection,
# kept by the web server, is not touched.
$t->script('finish.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
local block = require "block"
function main(env, req)
  req:puts("answered")
  req:finish()
  block.sleep(8)
end
LUA
my $kept = $t->connect;
my %params = (SCRIPT_FILENAME => "$www/finish.lua", REQUEST_METHOD => 'GET', QUERY_STRING => '');
LFTest::write_all($kept, LFTest::encode_request(\%params, '', keep_conn => 1));
$r = LFTest::read_response($kept, timeout => 5);
is($r->{body}, 'answered', 'req:finish() answers at once');
ok($t->wait_log(qr{\Q$www\E/finish\.lua: GET .*written off.*req:finish\(\) had answered its client}, 10),
   'then stuck in C, its worker is written off, saying its client had its answer');
$params{SCRIPT_FILENAME} = "$www/good.lua";
$params{QUERY_STRING} = 'again';
LFTest::write_all($kept, LFTest::encode_request(\%params, '', keep_conn => 1));
is(LFTest::read_response($kept, timeout => 5)->{body}, 'good again',
   'the connection it gave back serves the next request');
close $kept;
ok($t->wait_log(qr/came back [\d.]+ s after the write-off.*\n(?:.*\n)*.*came back [\d.]+ s after/, 10),
   'and that thread ends when its call returns');

# ---- at max_written_off the serving process is replaced -----------------

my $stop = "$dir/stop.load";
my $load = load($t, 3, $stop);
my $stuck = LFTest::start_clients(2, sub { $t->get('stuck.lua', QUERY_STRING => 'spin 60')->{status} });
my @codes = LFTest::wait_clients($stuck, 30);
ok($t->wait_log(qr/asks to be replaced \(workers written off\): starting another/, 15),
   'two written off: the serving process asks to be replaced');
ok($t->wait_log(qr/serving process (\d+) replaces $serving, which finishes its requests and exits/, 15),
   'a new one replaces it');
my ($new) = $t->log =~ /serving process (\d+) replaces $serving/;
ok(wait_for(sub { !alive($serving) }, 15), 'the old one exits, its stuck threads with it');
is(scalar(grep { defined && $_ == 500 } @codes), 2, 'both stuck requests got a 500 page');
my ($good, $bad, $lost) = load_results($load, $stop);
ok($good > 20, "the load was served throughout ($good requests)");
is($bad, 0, 'no request failed');
is($lost, 0, 'every client finished');
is(LFTest::serving_pid($t), $new, 'the new serving process serves');
$page = status_page()->{body};
is(text_field($page, 'replacements written off'), 1, 'status: one replacement for written-off workers');
is(text_field($page, 'workers written off'), 0, 'and the new process has none');
like(status_page('openmetrics')->{body}, qr/^luafcgid_replacements_total\{reason="written off"\} 1$/m,
     'OpenMetrics counts it by reason');
like(slurp("$dir/slow.log"), qr/serving process $serving asks to be replaced: 2 workers written off/,
     'the slow log has the replacement');

# A stop with a written-off worker still stuck is not held up by it.
$t->write_conf(max_written_off => 2);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'reloaded');
LFTest::start_clients(1, sub { $t->get('stuck.lua', QUERY_STRING => 'spin 60'); 'x' });
ok($t->wait_log(qr/\(1 written off now\)/, 15), 'one more written off');
$t0 = time;
is($t->stop, 0, 'TERM stops the daemon cleanly');
ok(time - $t0 < 10, 'without waiting for the stuck thread');
ok(defined $new && wait_for(sub { !alive($new) }, 10), 'which ends with its process');

# ---- max_rss: C code's own memory makes the serving process be replaced ---

my $m = LFTest->new(conf => { workers => 2, timeout => 10, sweep => 100, status_path => '/status',
                              max_rss => 64 * 1024 * 1024 });
$m->script('stuck.lua', slurp("$www/stuck.lua"));
$m->script('good.lua', slurp("$www/good.lua"));
$m->start;
my $first = LFTest::serving_pid($m);
{
    $load = load($m, 3, "$dir/stop.rss");
    is($m->get('stuck.lua', QUERY_STRING => 'grab 96')->{body}, 'hits 1', 'a C module mallocs 96 MiB');
    ok($m->wait_log(qr/resident memory \d+ bytes, over max_rss 67108864: asking to be replaced/, 10),
       'over max_rss, the serving process asks to be replaced');
    ok($m->wait_log(qr/serving process (\d+) replaces $first/, 15), 'and is');
    ok(wait_for(sub { !alive($first) }, 15), 'the old one exits, its memory with it');
    ($good, $bad, $lost) = load_results($load, "$dir/stop.rss");
    ok($good > 20, "the load was served throughout ($good requests)");
    is($bad, 0, 'no request failed');
    is($lost, 0, 'every client finished');
    $page = status_page('', $m)->{body};
    is(text_field($page, 'replacements rss'), 1, 'status: one replacement for max_rss');
    cmp_ok(text_field($page, 'rss'), '<', 64 * 1024 * 1024, 'the new process is under max_rss');
}
is($m->stop, 0, 'TERM stops it cleanly');

# ---- the keys are checked by -t -------------------------------------------

sub check {
    my (%conf) = @_;
    my $c = LFTest->new(conf => \%conf);
    my $out = `${\ LFTest::binary()} -t ${\ $c->conf_path} 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $out) = check(timeout => 10, terminate_timeout => 10);
is($rc, 1, '-t refuses terminate_timeout not over timeout');
like($out, qr/'terminate_timeout': must be more than timeout \(10\), not 10/, 'saying why');
($rc, $out) = check(workers => 2, max_written_off => 3);
is($rc, 1, '-t refuses max_written_off over workers');
like($out, qr/'max_written_off': must be at most workers \(2\), not 3/, 'saying why');
($rc, $out) = check(max_rss => -1);
is($rc, 1, '-t refuses a negative max_rss');
($rc, $out) = check(timeout => 0, terminate_timeout => 20, max_rss => 1e9, max_written_off => 1);
is($rc, 0, 'terminate_timeout with no timeout, max_rss and max_written_off pass -t') or diag $out;
unlike($out, qr/unknown key/, 'as keys it knows');

done_testing;
