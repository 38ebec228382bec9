"""Stand-ins for the pwd and grp modules, so tests can set up users and groups."""

import collections

Pw = collections.namedtuple('Pw', 'pw_name pw_uid pw_gid')
Gr = collections.namedtuple('Gr', 'gr_name gr_gid gr_mem')


class FakePwd:
    def __init__(self, users):
        self.users = users

    def getpwnam(self, name):
        return self.users[name]


class FakeGrp:
    def __init__(self, groups):
        self.groups = groups

    def getgrgid(self, gid):
        for group in self.groups:
            if group.gr_gid == gid:
                return group
        raise KeyError(gid)

    def getgrall(self):
        return list(self.groups)
