# Shared dictionaries outlive the serving process: their contents are
# intact after it is killed with SIGKILL under load, after HUP (which
# says what a changed `shared` will do) and after a USR2 upgrade (taken
# over as they are, copied when resized, dropped when no longer
# configured); and a serving process killed while it holds a
# dictionary's lock (stopped inside an operation, then killed) leaves
# the next one serving at once, with the dictionary answering.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use POSIX ();
use Test::More;
use File::Copy qw(copy);
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for alive slurp);

my $script = <<'LUA';
local d = require("luafcgid").shared.d
function main(env, req)
  local q = env.QUERY_STRING
  if q:match("^fill=") then
    for i = 1, tonumber(q:match("=(%d+)")) do d:set("k" .. i, "value " .. i, 0, i % 7) end
    d:rpush("list", "a"); d:rpush("list", 2)
    req:puts("filled")
  elseif q:match("^check=") then
    local ok = 0
    for i = 1, tonumber(q:match("=(%d+)")) do
      local v, f = d:get("k" .. i)
      if v == "value " .. i and (f or 0) == i % 7 then ok = ok + 1 end
    end
    req:puts(ok, " ", d:llen("list"), " ", d:lpop("list") or "-", " ", d:get("hits") or 0)
    d:lpush("list", "a")
  elseif q == "incr" then
    req:puts((d:incr("hits", 1, 0)))
  elseif q == "walk" then
    for i = 1, 50 do d:flush_expired() end
    req:puts("walked")
  elseif q == "count" then
    req:puts(#d:get_keys(0))
  elseif q == "capacity" then
    req:puts(d:capacity())
  end
end
LUA

sub body { my ($t, $q) = @_; my $r = $t->get('d.lua', QUERY_STRING => $q); return $r->{status} == 200 ? $r->{body} : "HTTP $r->{status}" }

# ---- SIGKILL under load, then HUP ----------------------------------------
{
    my $t = LFTest->new(conf => { workers => 4, shared => \'{ d = "4m" }' }, scripts => { 'd.lua' => $script });
    $t->start;
    is(body($t, 'fill=5000'), 'filled', '5000 keys with flags, and a list');
    my $stop = $t->dir . '/stop';
    my $load = LFTest::start_clients(4, sub {
        my ($n, $max, $sent) = (0, 0, 0);
        while (!-e $stop && $sent < 20000) {
            $sent++;
            my $r = $t->get('d.lua', QUERY_STRING => 'incr');
            next unless $r->{status} == 200 && $r->{body} =~ /^(\d+)$/;
            $n++;
            $max = $1 if $1 > $max;
        }
        return "$n $max $sent";
    });
    my $hits = sub { (split ' ', body($t, 'check=0'))[3] // 0 };
    ok(wait_for(sub { $hits->() > 300 }, 20), 'under load (incr from 4 clients)');
    my $child = LFTest::serving_pid($t);
    kill 'KILL', $child;
    ok($t->wait_log(qr/serving process $child died of SIGKILL/), 'the serving process is killed with SIGKILL');
    ok(wait_for(sub { my $c = LFTest::serving_pid($t); $c && $c != $child && $hits->() =~ /^\d+$/ }, 20),
       'a new one serves');
    my $at_new = $hits->();
    ok(wait_for(sub { $hits->() > $at_new + 50 }, 20), 'the clients go on against the new one');
    LFTest::spew($stop, '');
    my @res = LFTest::wait_clients($load, 60);
    my ($ok, $max, $sent) = (0, 0, 0);
    for (@res) { my @f = split ' ', $_ // '0 0 0'; $ok += $f[0]; $max = $f[1] if $f[1] > $max; $sent += $f[2] }
    my ($intact, $len, $pop, $total) = split ' ', body($t, 'check=5000');
    is($intact, 5000, 'every key and its flags intact after SIGKILL under load');
    is("$len $pop", '2 a', 'and the list');
    cmp_ok($total, '>=', $max, "the counter holds every increment answered ($total >= $max)");
    cmp_ok($total, '<=', $sent, "and none that was not asked for ($total <= $sent)");

    # HUP: nothing changes; a changed `shared` says what it will do
    $t->write_conf(shared => \'{ d = "8m", extra = "1m" }');
    $t->signal('HUP');
    ok($t->wait_log(qr/reload: shared dictionary 'd' keeps its 4194304 bytes and its contents until the next upgrade \(USR2\), which resizes it in place to 8388608 bytes, or restart, which starts it empty/),
       'HUP with a changed size says what it does') or diag $t->log;
    like($t->log, qr/reload: shared dictionary 'extra' \(1048576 bytes\) is new: it is made at the next upgrade \(USR2\) or restart/,
         'and with a new dictionary');
    ok($t->wait_log(qr/reloaded /), 'the serving process reloads');
    ($intact) = split ' ', body($t, 'check=5000');
    is($intact, 5000, 'contents intact after HUP');
    # TERM ends them, as nginx's stop does; a start makes them anew
    $t->stop;
    $t->start;
    is(body($t, 'count'), '0', 'TERM ends the dictionaries: a new start has them empty');
    is(body($t, 'capacity'), '8388608', 'at the size the config gives now');
    $t->stop;
}

# ---- USR2 -------------------------------------------------------------------
sub new_pid { my ($t) = @_; my @p = $t->log =~ /the new binary serves as pid (\d+)/g; $p[-1] }

{
    my $t = LFTest->new(conf => { workers => 2, shared => \'{ d = "4m", gone = "64k" }' }, scripts => { 'd.lua' => $script });
    my $d = $t->dir;
    copy(LFTest::binary(), "$d/luafcgid") or die;
    chmod 0755, "$d/luafcgid";
    { local $ENV{LUAFCGID} = "$d/luafcgid"; $t->start; }
    body($t, 'fill=5000');
    body($t, 'incr') for 1 .. 3;
    $t->signal('USR2');
    ok($t->wait_log(qr/the new binary serves as pid \d+/, 30), 'USR2: a new binary serves') or diag $t->log;
    my $new = new_pid($t);
    LFTest::track($new, 'luafcgid (upgraded)');
    like($t->log, qr/upgrade: shared dictionary 'd' taken over with its 5002 keys/, 'it took the dictionary over');
    ok(wait_for(sub { waitpid($t->pid, POSIX::WNOHANG()) == $t->pid }, 30), 'the old one exits');
    $t->{pid} = undef;
    is(body($t, 'check=5000'), '5000 2 a 3', 'contents intact after USR2 (keys, flags, the list, the counter)');

    # again, with `d` smaller and `gone` no longer configured, under a
    # load of incr: what the old serving process counts while it drains
    # is kept, and no value of the counter is handed out twice
    my $stop = "$d/stop";
    my $load = LFTest::start_clients(2, sub {
        my ($sent, @seen) = (0);
        while (!-e $stop && $sent < 20000) {
            $sent++;
            my $r = $t->get('d.lua', QUERY_STRING => 'incr');
            push @seen, $1 if $r->{status} == 200 && $r->{body} =~ /^(\d+)$/;
        }
        return join(' ', $sent, @seen);
    });
    wait_for(sub { ((split ' ', body($t, 'check=0'))[3] // 0) > 100 }, 20);
    $t->write_conf(shared => \'{ d = "1m" }');
    my $before = () = $t->log =~ /the new binary serves as pid/g;
    kill 'USR2', $new;
    ok(wait_for(sub { (() = $t->log =~ /the new binary serves as pid/g) > $before }, 30), 'a second USR2, the config changed')
        or diag $t->log;
    my $newer = new_pid($t);
    LFTest::track($newer, 'luafcgid (upgraded twice)');
    like($t->log, qr/upgrade: shared dictionary 'd' resized in place from 4194304 to 1048576 bytes in \d+ ms: 5002 keys kept, 0 evicted to fit/,
         'a resized dictionary is resized in place, its keys moved below the new size');
    like($t->log, qr/upgrade: shared dictionary 'gone' is no longer configured: dropped/, 'one no longer configured is dropped');
    ok(wait_for(sub { !alive($new) }, 30), 'the previous one exits');
    LFTest::untrack($new);
    LFTest::spew($stop, '');
    my ($sent, $dup, $max, %seen) = (3, 0, 3);
    for (LFTest::wait_clients($load, 60)) {
        my ($n, @v) = split ' ', $_ // '0';
        $sent += $n;
        for (@v) { $dup++ if $seen{$_}++; $max = $_ if $_ > $max }
    }
    my ($intact, $len, $pop, $total) = split ' ', body($t, 'check=5000');
    is("$intact $len $pop", '5000 2 a', 'contents intact after the resize');
    is($dup, 0, 'under load, no value of the counter was handed out twice');
    ok($total >= $max && $total <= $sent, "the counter holds every increment answered ($max <= $total <= $sent)");
    kill 'TERM', $newer;
    ok(wait_for(sub { !alive($newer) }, 20), 'TERM stops it');
    LFTest::untrack($newer);
}

# ---- a serving process killed with a dictionary's lock held -----------------
#
# The test looks at the lock itself: the arena's header (layout 2) has the
# dictionary's name at byte 32 and its mutex at byte 96, whose first word
# is its holder's thread id. The serving process is stopped while it walks
# a large dictionary over and over; once one of its threads holds the
# lock, it is killed.
SKIP: {
    skip 'needs /proc', 7 unless -d "/proc/$$/fd";
    my $t = LFTest->new(conf => { workers => 4, shared => \'{ d = "16m" }' }, scripts => { 'd.lua' => $script });
    $t->start;
    body($t, 'fill=50000');
    is(body($t, 'count'), 50001, '50000 keys and a list');
    my $sup = $t->pid;
    my ($memfd) = grep { (readlink($_) // '') =~ /luafcgid-shared/ } glob("/proc/$sup/fd/*");
    ok($memfd, "the supervisor holds the dictionary's memory");
    my $stop = $t->dir . '/stop';
    my $load = LFTest::start_clients(4, sub {
        my $n = 0;
        $n++, $t->get('d.lua', QUERY_STRING => 'walk') while !-e $stop && $n < 100000;
        return $n;
    });
    my ($held, $tries, $child) = (0, 0);
    wait_for(sub { body($t, 'count') == 50001 }, 10);
    while (!$held && $tries++ < 300) {
        $child = LFTest::serving_pid($t);
        kill 'STOP', $child;
        wait_for(sub { (slurp("/proc/$child/stat") =~ /^\d+ \(.*?\) (\S)/)[0] eq 'T' }, 5);
        open(my $fh, '<', $memfd) or last;
        my $head = '';
        sysread($fh, $head, 104);
        close $fh;
        my ($name) = unpack('Z64', substr($head, 32, 64));
        my $owner = unpack('l', substr($head, 96, 4)) & 0x3fffffff;
        $held = $name eq 'd' && $owner && -e "/proc/$child/task/$owner";
        last if $held;
        kill 'CONT', $child;
        sleep 0.01;
    }
    ok($held, "the serving process is stopped with the lock held by one of its threads (try $tries)");
    my $t0 = time;
    kill 'KILL', $child;
    LFTest::spew($stop, '');    # the load did its part: what is timed is the recovery
    # bounded: the time to a first answer from the dictionary, not that of
    # a walk of it, which the load and a slow build stretch at will
    ok(wait_for(sub { my $c = LFTest::serving_pid($t); $c && $c != $child && body($t, 'check=1') =~ /^1 2 a / }, 20),
       'the next serving process answers from the dictionary');
    my $took = time - $t0;
    cmp_ok($took, '<', 10, sprintf('within the crash-recovery bound (%.2f s)', $took));
    is(body($t, 'count'), '50001', 'with every key');
    like($t->log, qr/shared dictionary 'd': a process died holding its lock; its unfinished step was undone \(\d+ granules\) in \d+ us/,
         'the abandoned lock is noticed, the step it was in undone, and that is logged') or diag $t->log;
    LFTest::wait_clients($load, 60);
    $t->stop;
}

done_testing();
