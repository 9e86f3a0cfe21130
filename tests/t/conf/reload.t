# HUP with configs the running daemon must not take whole: one that grows
# past the config's memory cap, one that lowers workers.
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

done_testing;
