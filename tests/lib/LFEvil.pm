# LFEvil: a daemon with the C module tests/lib/evil.c (C code that blocks
# in a call or in a finalizer, forks by every road, calls daemon(3)), for
# the tests of what terminate_timeout, max_rss and the fork guard hold
# against (tests/t/daemon/stuck-*.t, tests/t/sandbox/fork-*.t).
#
# run.lua runs the Lua in its request's CODE parameter, with `evil` (the
# module) as a global; good.lua answers "good". Whatever an attack leaves
# behind (a copy of the serving process made by a fork, a serving process
# stuck on a finalizer) is killed at the end: every process started from
# one of these daemons' configs.
package LFEvil;
use strict;
use warnings;
use LFTest qw(slurp);
use Test::More ();

my @confs;
END {
    local $?;
    for my $conf (@confs) {
        my @left = grep { /^\d+$/ && $_ != $$ } split /\n/, `pgrep -f '^\\S*luafcgid -F $conf'`;
        kill 'KILL', @left if @left;
    }
}

# A daemon (not started) with the module built into its www, and CONF
# over the defaults: 2 workers, timeout 2 s, terminate_timeout 3 s.
sub daemon {
    my (%conf) = @_;
    my $t = LFTest->new(conf => { workers => 2, timeout => 2, terminate_timeout => 3, sweep => 100,
                                  status_path => '/status', %conf });
    push @confs, $t->conf_path;
    my $www = $t->www;
    LFTest::c_module($www, 'evil', slurp(LFTest::top() . '/tests/lib/evil.c'), '-ldl')
        or Test::More::plan(skip_all => "the module: $@");
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

# A script NAME that loads the module and keeps a userdata whose __gc
# sleeps SECONDS in C when its state is closed; BODY is its main's.
sub gc_script {
    my ($t, $name, $seconds, $body) = @_;
    my $www = $t->www;
    return $t->script($name, <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
keeper = require("evil").gcsleep($seconds)
function main(env, req) $body end
LUA
}

# CODE run in run.lua; the parsed answer.
sub run {
    my ($t, $code, %o) = @_;
    return $t->fcgi({ SCRIPT_FILENAME => $t->www . '/run.lua', SCRIPT_NAME => '/run.lua',
                      REQUEST_URI => '/run.lua', REQUEST_METHOD => 'GET', QUERY_STRING => '',
                      CODE => $code }, undef, timeout => $o{timeout} // 20);
}

sub good {
    my ($t, $timeout) = @_;
    return $t->fcgi({ SCRIPT_FILENAME => $t->www . '/good.lua', REQUEST_METHOD => 'GET',
                      QUERY_STRING => '' }, undef, timeout => $timeout // 10);
}

1;
