"""rooms: meeting rooms, hourly bookings (one per room, date and slot), calendar feed keys

Revision ID: rooms_0001
Revises: 0004
Create Date: 2026-12-01 11:25:18.557277

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'rooms_0001'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('capacity >= 1', name=op.f('ck_rooms_capacity_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rooms')),
    sa.UniqueConstraint('name', name=op.f('uq_rooms_name'))
    )
    op.create_table('room_bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('slot', sa.SmallInteger(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('slot >= 0 AND slot <= 23', name=op.f('ck_room_bookings_slot_hour')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_room_bookings_room_id_rooms'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_room_bookings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room_bookings')),
    # no double booking; the database decides between simultaneous submits.
    sa.UniqueConstraint('room_id', 'booked_on', 'slot', name=op.f('uq_room_bookings_room_id_booked_on_slot'))
    )
    with op.batch_alter_table('room_bookings', schema=None) as batch_op:
        batch_op.create_index('ix_room_bookings_booked_on', ['booked_on'], unique=False)
        batch_op.create_index('ix_room_bookings_user_date', ['user_id', 'booked_on'], unique=False)

    op.create_table('room_feed_keys',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_room_feed_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_room_feed_keys'))
    )


def downgrade():
    op.drop_table('room_feed_keys')
    with op.batch_alter_table('room_bookings', schema=None) as batch_op:
        batch_op.drop_index('ix_room_bookings_user_date')
        batch_op.drop_index('ix_room_bookings_booked_on')

    op.drop_table('room_bookings')
    op.drop_table('rooms')
