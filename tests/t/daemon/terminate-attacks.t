# Attacks on terminate_timeout, max_written_off, max_rss and the fork
# guard: C code blocking where no run is watched (a state's close, in a
# worker or in the housekeeper), fork by roads a library call does not
# see, a slow client taken for C code, a flood of stuck requests across
# replacements, the access log, a script going on after its write-off,
# and max_rss under the working set. The C module is built here
# (tests/lib/evil.c).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for slurp spew alive);

# What an attack leaves behind (a copy of the serving process made by a
# fork the guard did not see, a serving process stuck on a blocking __gc)
# is killed here: every process started from one of this test's configs.
my @confs;
END {
    local $?;
    for my $conf (@confs) {
        my @left = grep { /^\d+$/ && $_ != $$ } split /\n/, `pgrep -f '^\\S*luafcgid -F $conf'`;
        kill 'KILL', @left if @left;
    }
}

sub daemon {
    my (%conf) = @_;
    my $t = LFTest->new(conf => { workers => 2, timeout => 2, terminate_timeout => 3, sweep => 100,
                                  status_path => '/status', %conf });
    push @confs, $t->conf_path;
    my $www = $t->www;
    LFTest::c_module($www, 'evil', slurp(LFTest::top() . '/tests/lib/evil.c'), '-ldl')
        or plan skip_all => "the module: $@";
    $t->script('good.lua', "function main(env, req) req:puts('good') end\n");
    $t->script('run.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
evil = require "evil"
function main(env, req)
  return assert(loadstring("local env, req = ...; " .. env.CODE))(env, req)
end
LUA
    return $t;
}
sub run {
    my ($t, $code, %o) = @_;
    return $t->fcgi({ SCRIPT_FILENAME => $t->www . '/run.lua', SCRIPT_NAME => '/run.lua', REQUEST_URI => '/run.lua',
                      REQUEST_METHOD => 'GET', QUERY_STRING => '', CODE => $code }, undef,
                    timeout => $o{timeout} // 20);
}
sub good { my ($t, $timeout) = @_; return $t->fcgi({ SCRIPT_FILENAME => $t->www . '/good.lua', REQUEST_METHOD => 'GET',
                                                      QUERY_STRING => '' }, undef, timeout => $timeout // 10) }

# A request for run.lua named NAME (its SCRIPT_NAME /NAME.lua) running CODE,
# on a connection of its own, once the script began (it marks a file NAME).
sub stuck {
    my ($t, $name, $code) = @_;
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/run.lua',
                                                   SCRIPT_NAME => "/$name.lua", REQUEST_URI => "/$name.lua",
                                                   REQUEST_METHOD => 'GET', QUERY_STRING => '',
                                                   CODE => "io.open('${\ $t->dir}/$name', 'w'):close() $code" }));
    ok(wait_for(sub { -e $t->dir . "/$name" }, 10), "$name: a request stuck in C");
    return $s;
}

# ---- 1. a state's close runs C (__gc) outside any watched run -------------

{
    my $t = daemon();
    my $www = $t->www;
    $t->script('gct.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
keeper = require("evil").gcsleep(600)
function main(env, req) while true do end end
LUA
    $t->start;
    # the timeout stops the loop; the state is closed, and its __gc blocks
    my @codes = map { $_ // 0 } LFTest::run_clients(2, 30, sub { $t->get('gct.lua')->{status} });
    my $r = good($t, 15);
    is($r->{body}, 'good', 'a state closed after a timeout whose __gc blocks in C: the worker is written off '
                           . 'and replaced, the daemon serves on');
    $t->stop;
}
{
    my $t = daemon(states => 2);
    my $www = $t->www;
    $t->script('a.lua', "package.cpath = '$www/?.so;' .. package.cpath\nkeeper = require('evil').gcsleep(600)\n"
               . "function main(env, req) req:puts('a') end\n");
    $t->script("$_.lua", "function main(env, req) req:puts('$_') end\n") for qw(b c d);
    $t->start;
    $t->get('a.lua');
    my @bodies = map { $t->fcgi({ SCRIPT_FILENAME => $t->www . "/$_.lua", REQUEST_METHOD => 'GET', QUERY_STRING => '' },
                                undef, timeout => 10)->{body} } qw(b c d);
    is("@bodies", 'b c d', "a request for another script that evicts that state (states full) is answered");
    $t->stop;
}
{
    my $t = daemon(maxidle => 1);
    my $www = $t->www;
    $t->script('gc.lua', "package.cpath = '$www/?.so;' .. package.cpath\nkeeper = require('evil').gcsleep(600)\n"
               . "function main(env, req) req:puts('gc') end\n");
    $t->start;
    $t->get('gc.lua');
    sleep 3;    # idle past maxidle: the housekeeper closes that state
    my $t0 = time;
    my $r = run($t, 'evil.sleep(15) req:puts("back")');
    my $took = time - $t0;
    ok($r->{status} == 500 && $took < 8, sprintf('the housekeeper closed a state whose __gc blocks: a request stuck '
       . 'in C is still written off at terminate_timeout (got %s after %.1f s)', $r->{status}, $took));
    $t->stop;
}

# ---- 2. fork by roads the guard does not see ------------------------------

{
    my $t = daemon();
    $t->start;
    my $serving = LFTest::serving_pid($t);
    my $r = run($t, 'local p = evil._Fork() if p == 0 then req:puts("child") return end req:puts("parent")');
    my %pids;
    $pids{ run($t, 'req:puts(evil.getpid())', timeout => 5)->{body} }++ for 1 .. 40;
    is(join(',', keys %pids), $serving, "_Fork() (POSIX 2024, no atfork handlers): no copy of the serving process "
       . "takes requests") or diag('answered by: ' . join(' ', map { "$_ x$pids{$_}" } keys %pids));
    my @kids = grep { /^\d+$/ } split /\n/, `pgrep -P $serving`;
    is(scalar(@kids), 0, 'and none is left') or kill 'KILL', @kids;
    kill 'KILL', @kids;
    $t->stop;
}
{
    my $t = daemon(workers => 2);
    $t->start;
    my $serving = LFTest::serving_pid($t);
    my @two = LFTest::run_clients(2, 20, sub {
        my ($c) = @_;
        return $c == 1 ? run($t, 'evil.sleep(1) req:puts("long")')->{body}
                       : do { sleep 0.3; run($t, 'evil.daemon() req:puts("daemon")')->{body} };
    });
    is($two[0], 'long', 'daemon(3) from a C module does not end the serving process under the other requests');
    is(LFTest::serving_pid($t), $serving, 'the serving process is the same');
    $t->stop;
}

# ---- 3. a slow client is not C code stuck ---------------------------------

{
    my $t = daemon(client_timeout => 60, memory => 64 * 1024 * 1024);
    $t->start;
    my $serving = LFTest::serving_pid($t);
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => $t->www . '/run.lua', REQUEST_METHOD => 'GET',
        QUERY_STRING => '', CODE => 'req:puts(string.rep("x", 4e6)) req:flush()' }, ''));
    sleep 5;    # reads late, well within client_timeout
    my $r = LFTest::read_response($s, timeout => 30);
    is(length($r->{body}), 4e6, 'a client that reads a streamed answer slowly, within client_timeout, gets all of it');
    ok($t->log !~ /written off/, 'and the worker is not written off as stuck in C');
    is(LFTest::serving_pid($t), $serving, 'nor the serving process replaced');
    $t->stop;
}

# ---- 4. more stuck requests than workers ----------------------------------

{
    my $t = daemon(workers => 2, max_written_off => 1);
    $t->start;
    my $T0 = time;
    my $stuck = LFTest::start_clients(16, sub { my ($c) = @_; sleep(0.5 * $c);
                                                 run($t, 'evil.sleep(120)', timeout => 40)->{status} // 0 });
    sleep 9;    # two replacements asked for, the second while the first still finishes
    my $t0 = time;
    my $r = good($t, 40);
    my $took = time - $t0;
    ok($r->{body} eq 'good' && $took < 12, sprintf('a flood of stuck requests: a good request is answered within 12 s '
       . '(got [%s] after %.1f s)', $r->{body}, $took));
    my @got = map { $_ // 'none' } LFTest::wait_clients($stuck, 60);
    is(join(' ', grep { $_ ne '500' } @got), '', 'and every stuck request got its 500, none cut off or lost');
    $t->stop;
}

# ---- 5. what is logged, and what the script still does --------------------

{
    my $t = daemon(max_written_off => 2);
    my $dir = $t->dir;
    $t->write_conf(access_log => "$dir/access.log");
    $t->start;
    my $r = run($t, "evil.sleep(5) local f = io.open('$dir/after', 'a') f:write('ran\\n') f:close()");
    is($r->{status}, 500, 'a request stuck in C gets its 500 page');
    # the script would write before its thread ends, which is logged
    ok($t->wait_log(qr/its written-off thread came back/, 10), 'its thread comes back');
    is(slurp("$dir/after"), '', 'the script does nothing more once its request was answered and its worker written off');
    like(slurp("$dir/access.log"), qr/"GET \/run\.lua" 500/, 'the access log has the 500 its client got');
    $t->stop;
}

# a client gone before its request was written off got no 500: 499, on
# a unix socket (the send fails) and over TCP (where a send after the FIN
# still succeeds: the socket is asked), with nothing sent or only some
# buffered (req:puts)
for my $tcp (0, 1) {
    my $via = $tcp ? 'TCP' : 'unix';
    my $t = daemon($tcp ? (listen => '127.0.0.1:' . LFTest::free_port()) : ());
    my $dir = $t->dir;
    $t->write_conf(access_log => "$dir/access.log");
    $t->start;
    # both at once (two workers): written off in the same sweep or so
    my %s = map { $_->[0] => stuck($t, "$_->[0]-$tcp", "$_->[1]evil.sleep(8)") }
            (['gone', ''], ['buffered', "req:puts('part') "]);
    close $_ for values %s;
    for my $name (map { "$_-$tcp" } sort keys %s) {
        ok(wait_for(sub { slurp("$dir/access.log") =~ m{"GET /$name\.lua" (\d+)$}m }, 20), "$via, $name: its line");
        like(slurp("$dir/access.log"), qr{"GET /$name\.lua" 499$}m, "$via, $name: 499, its client was gone");
        ok($t->wait_log(qr/$name\.lua: its script ran .* written off, its state dropped, its client had gone/, 10),
           "$via, $name: and the log says its client had gone");
    }
    $t->stop;
}

# two written off in one sweep, one whose client had gone (its send fails)
# and one whose answer began (nothing more is sent): the second's client
# is there, and the log never says otherwise, in either order
{
    my $t = daemon();
    $t->start;
    for my $round (1 .. 2) {
        my ($an, $bn) = ("a$round", "b$round");
        my @pair = ([$an, 'evil.sleep(8)'], [$bn, "req:puts('part') req:flush() evil.sleep(8)"]);
        @pair = reverse @pair if $round % 2 == 0;
        my %s = map { $_->[0] => stuck($t, @$_) } @pair;
        close $s{$an};
        ok($t->wait_log(qr/$an\.lua: its script ran .* written off/, 15)
           && $t->wait_log(qr/$bn\.lua: its script ran .* written off/, 15), "round $round: both written off");
        my ($said) = $t->log =~ /$bn\.lua: its script ran .* written off, its state dropped, ([^;\n]*)/;
        is($said, 'its connection was closed', "round $round: of the one whose answer began, the truth");
        close $s{$bn};
    }
    $t->stop;
}

# ---- 6. max_rss under the working set -------------------------------------

{
    my $t = daemon(max_rss => 1);
    $t->start;
    ok($t->wait_log(qr/max_rss 1 is under what this serving process holds as it starts/, 10),
       'max_rss under what a fresh serving process holds: said once');
    sleep 3;    # thirty sweeps, each of which would ask again
    my $n = () = $t->log =~ /replaces \d+, which/g;
    is($n, 0, 'and it is not replaced for it');
    $t->stop;
}

done_testing;
