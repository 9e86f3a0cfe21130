# HUP with configs the running daemon must not take whole: one that grows
# past the config's memory cap, one that lowers workers (a restart applies
# it: until then states must cover the workers that run).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for spew);

my $hello = "function main(env, req) req:puts('hello') end\n";

# The file runs in the supervisor and the serving process at each HUP: a
# loop that doubles a string stops at the cap, and both keep serving with
# the config they had. The address-space bound keeps a regression from
# taking the machine.
{
    my $t = LFTest->new(conf => { headers => "X-Config: first\n" }, scripts => { 'hello.lua' => $hello });
    $t->start;
    my $serving = LFTest::serving_pid($t);
    ok($serving, 'the serving process is up');
    for my $pid ($t->pid, $serving) {
        system('prlimit', "--pid=$pid", '--as=4294967296') == 0 or BAIL_OUT("prlimit $pid failed");
    }
    is($t->get('hello.lua')->{headers}{'x-config'}, 'first', 'the first config serves');
    $t->{extra_conf} = "x = 'a' for i = 1, 40 do x = x .. x end\n";
    $t->write_conf(headers => "X-Config: second\n");
    my $conf = $t->conf_path;
    $t->signal('HUP');
    ok($t->wait_log(qr/reload failed, keeping the running config: \Q$conf\E: the config used too much memory/),
       'a HUP with a config that grows without bound is refused, naming the file');
    my $r = $t->get('hello.lua');
    is($r->{status}, 200, 'the daemon keeps serving');
    is($r->{headers}{'x-config'}, 'first', 'with the config it had');
    ok(LFTest::alive($t->pid) && LFTest::alive($serving), 'neither the supervisor nor the serving process died');
    is($t->stop, 0, 'and it stops cleanly');
}

# workers takes a restart, so a HUP that lowers it keeps the 4 that run, and
# what follows from workers follows from those 4, in the serving process
# and in the snapshot the supervisor starts the next one from.
{
    my $limits = "function main(env, req) req:puts(req:config('workers') .. ' ' .. "
               . "req:config('states') .. ' ' .. req:config('clones')) end\n";
    my $t = LFTest->new(conf => { workers => 4 }, scripts => { 'limits.lua' => $limits });
    $t->start;
    is($t->get('limits.lua')->{body}, '4 8 8', '4 workers: 8 states and clones by default');
    $t->write_conf(workers => 1);
    $t->signal('HUP');
    ok($t->wait_log(qr/'workers' changed; it takes effect after a restart/), 'lowering workers by HUP waits for a restart');
    ok($t->wait_log(qr/reloaded /), 'the rest of the config is reloaded');
    is($t->get('limits.lua')->{body}, '4 8 8', 'states still follows the 4 workers that run, not the file\'s 1');

    my $serving = LFTest::serving_pid($t);
    kill 'KILL', $serving;
    ok($t->wait_log(qr/serving process $serving died of SIGKILL/), 'the serving process is killed');
    ok($t->wait_log(qr/died of SIGKILL(?s:.*) started: \d+ workers/), 'the supervisor starts the next one');
    my ($after) = $t->log =~ /died of SIGKILL(.*)/s;
    like($after, qr/ started: 4 workers, 8 states/, 'with 4 workers and 8 states');
    ok(wait_for(sub { my $r = eval { $t->get('limits.lua') }; $r && $r->{body} eq '4 8 8' }, 15),
       'which serve with the same limits');

    # an explicit states the file's workers allow, but not the running ones
    $t->write_conf(workers => 1, states => 2, headers => "X-Config: refused\n");
    my $conf = $t->conf_path;
    $t->signal('HUP');
    ok($t->wait_log(qr/reload failed, keeping the running config: \Q$conf\E: key 'states': must be at least workers \(4, which run until a restart\), not 2/),
       'a states below the running workers is refused on HUP, naming the file and the running workers');
    my $r = $t->get('limits.lua');
    is($r->{body}, '4 8 8', 'the daemon keeps serving with the limits it had');
    ok(!defined $r->{headers}{'x-config'}, 'and with none of the refused config');
    is($t->stop, 0, 'and it stops cleanly');
}

# A HUP finds a FIFO in the config's place: refused at once, not waited on,
# and the supervisor still answers the next HUP and TERM.
{
    my $t = LFTest->new(conf => { headers => "X-Config: first\n" }, scripts => { 'hello.lua' => $hello });
    $t->start;
    my $conf = $t->conf_path;
    rename $conf, "$conf.good" or die "rename: $!";
    system('mkfifo', $conf) == 0 or die "mkfifo: $!";
    $t->signal('HUP');
    ok($t->wait_log(qr/reload failed, keeping the running config: \Q$conf\E: is not a regular file/),
       'a FIFO in the config\'s place is refused on HUP');
    unlink $conf;
    rename "$conf.good", $conf or die "rename: $!";
    $t->write_conf(headers => "X-Config: second\n");
    $t->signal('HUP');
    ok(wait_for(sub { ($t->get('hello.lua')->{headers}{'x-config'} // '') eq 'second' }, 15),
       'the supervisor takes the next HUP');
    is($t->stop, 0, 'and stops cleanly');
}

done_testing;
